"""network refresh: rebuild the map of the field (pairs, communities, names) in one batch."""

from __future__ import annotations

import click
from tqdm import tqdm

from search_index.network import refresh_field_map

STEPS = ("bids", "pairs", "communities", "names")


@click.group("network")
def network_group():
    """The network map of the field."""


@network_group.command("refresh")
def refresh_command():
    """Rebuild the map and its cache (pages read the cache until the data changes)."""
    with tqdm(total=len(STEPS) + 1, desc="network", unit="step") as bar:

        def progress(step: str) -> None:
            bar.update(1)
            bar.set_postfix_str(step)

        fmap = refresh_field_map(progress)
        bar.update(bar.total - bar.n)
    graph = fmap.graph()
    click.echo(
        f"{graph.number_of_nodes()} organisations, {graph.number_of_edges()} links, "
        f"{len(fmap.communities)} communities from {len(fmap.bids)} bids and "
        f"{len(fmap.pairs)} overlapping pairs; {fmap.seconds:.1f} s."
    )


COMMANDS = [network_group]
