"""`worker`: the process that keeps derived data (search, similarity, clusters) up to date."""

from __future__ import annotations

import signal
import threading

import click

from search_index.worker import run_worker


@click.command("worker")
@click.option("--once", is_flag=True, help="Apply what is due, run due jobs, then exit.")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Outbox rows applied per batch and target.",
)
@click.option(
    "--sleep",
    "idle_sleep",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds to wait when there is nothing to do.",
)
@click.option("--no-jobs", is_flag=True, help="Do not run the periodic jobs (WORKER_JOBS).")
def worker_command(once: bool, batch: int, idle_sleep: float, no_jobs: bool):
    """Drain the outbox for every target and run periodic jobs until stopped (Ctrl-C, SIGTERM)."""
    stop = threading.Event()

    def request_stop(signum, frame):  # finish the batch in hand, then exit
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    if not once:
        click.echo("Worker started: applying index work; Ctrl-C stops it.", err=True)
    report = run_worker(once=once, batch=batch, idle_sleep=idle_sleep, stop=stop, jobs=not no_jobs)
    applied = ", ".join(f"{target} {count}" for target, count in sorted(report.applied.items()))
    click.echo(
        f"Worker stopped: applied {applied or 'nothing'}"
        + (f"; ran {', '.join(report.jobs)}" if report.jobs else "")
        + ".",
        err=True,
    )


COMMANDS = (worker_command,)
