"""The benchmark harness on a tiny sample, so `make bench` cannot rot unnoticed."""

from __future__ import annotations

import gzip
import itertools
import json

import pytest

import benchmarks
from benchmarks import Row, format_table, percentiles, time_calls
from benchmarks.__main__ import main

# The benchmarks build their own SQLite instances, whatever TEST_DATABASE_URL says.
pytestmark = pytest.mark.no_database


def test_percentiles_nearest_rank():
    stats = percentiles(range(1, 101))
    assert (stats["p50"], stats["p95"], stats["max"]) == (50, 95, 100)
    assert stats["mean"] == pytest.approx(50.5)
    assert percentiles([7.0])["p95"] == 7.0
    with pytest.raises(ValueError):
        percentiles([])


def test_rows_judge_their_targets_and_the_table_shows_them():
    fast = Row.at_least("throughput", 600, "bids/s", 500)
    slow = Row.at_most("latency p95", 120.5, "ms", 100, note="too slow")
    plain = Row("rss", 321, "MiB")
    assert (fast.passed, slow.passed, plain.passed) == (True, False, None)
    for row in (fast, slow, plain):
        row.benchmark = "x"
    table = format_table([fast, slow, plain])
    assert ">= 500" in table and "pass" in table and "FAIL" in table
    assert "note: x/latency p95: too slow" in table


def test_time_calls_measures_each_call():
    calls = []
    latencies = time_calls(calls.append, range(5), warmup=2)
    assert len(latencies) == 5 and all(ms >= 0 for ms in latencies)
    assert calls == [0, 1, 0, 1, 2, 3, 4]


def test_harness_runs_the_import_benchmark_on_a_sample(tmp_path, shared_data, capsys):
    corpus = tmp_path / "sample.jsonl.gz"
    with (
        gzip.open(shared_data / "sbir-awards.jsonl.gz", "rt") as src,
        gzip.open(corpus, "wt") as out,
    ):
        out.writelines(itertools.islice(src, 60))
    output = tmp_path / "results" / "latest.json"
    code = main(
        ["--only", "import", "--limit", "50", "--corpus", str(corpus), "--output", str(output)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = json.loads(output.read_text())
    assert results["errors"] == [] and results["limit"] == 50
    figures = {row["name"]: row for row in results["rows"]}
    assert figures["bids imported"]["figure"] == 50
    assert figures["import throughput"]["figure"] > 0
    assert figures["import throughput"]["passed"] is None  # judged only on the whole corpus
    assert figures["re-import changes (idempotence)"]["figure"] == 0
    # 2 rows a bid (search, similar), less what the consumers applied after the last commit.
    assert 0 <= figures["index outbox rows left for the indexers"]["figure"] <= 100
    peaks = [row for name, row in figures.items() if name.startswith("import of a ")]
    assert len(peaks) == 2 and all(row["figure"] > 0 for row in peaks)
    assert figures["import peak RSS, large file over small"]["figure"] > 0
    assert "import throughput" in printed and "bids/s" in printed


def test_a_failing_benchmark_is_reported_not_hidden(tmp_path, monkeypatch, capsys):
    import sys
    import types

    module = types.ModuleType("benchmarks.broken_bench")

    def run(ctx):
        raise RuntimeError("boom")

    module.run = run
    monkeypatch.setitem(sys.modules, "benchmarks.broken_bench", module)
    ctx = benchmarks.BenchContext(limit=1, workdir=tmp_path)
    rows, errors = benchmarks.run_benchmarks(ctx, ["broken"])
    assert rows == [] and errors == ["broken: RuntimeError: boom"]
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_harness_runs_the_open_data_benchmark_on_a_sample(tmp_path, shared_data, capsys):
    corpus = tmp_path / "sample.jsonl.gz"
    with (
        gzip.open(shared_data / "sbir-awards.jsonl.gz", "rt") as src,
        gzip.open(corpus, "wt") as out,
    ):
        out.writelines(itertools.islice(src, 40))
    output = tmp_path / "results" / "latest.json"
    code = main(
        ["--only", "opendata", "--limit", "30", "--corpus", str(corpus), "--output", str(output)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = json.loads(output.read_text())
    assert results["errors"] == []
    figures = {row["name"]: row for row in results["rows"]}
    for name in ("360Giving JSON", "360Giving CSV", "360Giving XLSX", "export dump"):
        assert figures[f"{name}: time"]["figure"] >= 0
        assert figures[f"{name}: peak RSS (fresh process)"]["figure"] > 0
    assert figures["UK 360Giving package: grants imported"]["figure"] == 30
    assert figures["Lloyds Bank Foundation XLSX: grants imported"]["figure"] > 0
    assert "360Giving XLSX: time" in printed


def test_a_scaled_corpus_repeats_the_records_with_new_identifiers(tmp_path, shared_data):
    from benchmarks import BenchContext

    ctx = BenchContext(
        limit=3, corpus_path=shared_data / "sbir-awards.jsonl.gz", scale=3, workdir=tmp_path
    )
    with gzip.open(ctx._scaled_corpus(), "rt") as scaled:
        records = [json.loads(line) for line in scaled]
    assert len(records) == 9 and len({r["identifier"] for r in records}) == 9
    assert records[3]["identifier"] == records[0]["identifier"] + "-copy1"
    assert records[3]["title"] == records[0]["title"]
    assert sorted(records[3]["abstract"].split(". ")) == sorted(records[0]["abstract"].split(". "))


def test_every_copy_of_a_scaled_corpus_is_imported(tmp_path, shared_data):
    """The copies' identifiers must pass the import's validation (with "~" none did)."""
    from benchmarks import BenchContext
    from bids.database import db
    from bids.models import Bid

    ctx = BenchContext(
        limit=3, corpus_path=shared_data / "sbir-awards.jsonl.gz", scale=3, workdir=tmp_path
    )
    try:
        with ctx.app_context():
            assert db.session.scalar(db.select(db.func.count(Bid.id))) == 9
        assert ctx.import_report.skipped == 0
    finally:
        ctx.close()


def test_backends_side_by_side_leave_a_column_for_each():
    from benchmarks.search_bench import side_by_side

    table = side_by_side(
        42_000,
        {
            "Whoosh": {"p50": 12.0, "p95": 40.0, "build_s": 100.0, "update_p95": 50.0},
            "PostgreSQL": None,
            "FTS5": {"p50": 4.1, "p95": 30.8},
        },
    )
    header, p50 = table.splitlines()[1], table.splitlines()[2]
    assert header.split() == ["figure", "Whoosh", "PostgreSQL", "FTS5"]
    assert p50.split()[-3:] == ["12.0", "-", "4.1"]


def test_the_postgres_column_only_empties_a_database_on_this_machine():
    from benchmarks.search_postgres import check_url

    local = "postgresql+psycopg://openbids:openbids@localhost/openbids_bench"
    assert check_url(local) == local
    for url in (
        "postgresql+psycopg://openbids:openbids@db.example.org/openbids",
        "sqlite:///bench.sqlite3",
    ):
        with pytest.raises(ValueError):
            check_url(url)
