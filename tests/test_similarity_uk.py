"""The UK grants report: only pairs across funders, labelled by their evidence."""

from __future__ import annotations

import pytest

from benchmarks.similarity_uk import Grant, cross_funder_pairs, report

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

LONG = (
    "A community kitchen in the old chapel cooks hot meals for isolated older people, "
    "delivers them by bicycle across the parish, trains volunteers in food hygiene, runs a "
    "weekly lunch club with transport, and refers lonely residents to befriending services "
    "and benefits advice at the library"
)


def _grant(n: int, funder: str, text: str) -> Grant:
    return Grant(f"g{n}", funder, f"Recipient {n}", text)


def test_pairs_are_across_funders_and_short_texts_are_not_strong(tmp_path):
    grants = [
        _grant(0, "funder-a", LONG),
        _grant(1, "funder-a", LONG),  # the same funder: never reported
        _grant(2, "funder-b", LONG),
        _grant(3, "funder-a", "Grant to Odyssey Theatre for the access to theatre programme"),
        _grant(4, "funder-b", "Grant to Riverside Youth for the access to theatre programme"),
    ]
    pairs = cross_funder_pairs(grants, tmp_path)
    by_ids = {frozenset((p.a.identifier, p.b.identifier)): p for p in pairs}
    assert frozenset(("g0", "g1")) not in by_ids
    assert by_ids[frozenset(("g0", "g2"))].relation == "near_duplicate"
    assert by_ids[frozenset(("g3", "g4"))].relation == "related"  # one shared phrase
    text = report(pairs, len(grants), examples=1)
    assert "near-duplicate text" in text and "Recipient 2" in text
