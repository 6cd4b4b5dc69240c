"""Relevance on real data: nDCG@10 of the judged collection must not fall below its first figure.

Deterministic subset of the SBIR corpus (so the test stays near a minute): the first 8,000
records plus every record judged relevant to a query; `make bench` reports the full corpus.
"""

from __future__ import annotations

import gzip
import json

import pytest

from bids.database import db as _db
from portal import create_app
from search_index import rebuild_search_index
from search_index.relevance import evaluate, load_judgements
from search_index.service import get_search_service
from tests.conftest import SHARED_DATA, make_config

pytestmark = pytest.mark.slow

FIRST_RECORDS = 8000
# First reached on this subset: 0.919; with the title boost (search_index.ranking) Whoosh
# 0.942 and PostgreSQL 0.938 (0.939 and 0.926 without). A change that ranks worse fails here.
NDCG_FLOOR = 0.935


@pytest.fixture(scope="module")
def judged_app(tmp_path_factory):
    from portal.commands.imports import import_bids

    tmp = tmp_path_factory.mktemp("relevance")
    judged = {i for row in load_judgements() for i in row["relevant"]}
    subset = tmp / "subset.jsonl"
    with (
        gzip.open(SHARED_DATA / "sbir-awards.jsonl.gz", "rt", encoding="utf-8") as source,
        open(subset, "w", encoding="utf-8") as out,
    ):
        for n, line in enumerate(source):
            if n < FIRST_RECORDS or json.loads(line)["identifier"] in judged:
                out.write(line)
    app = create_app(make_config(tmp))
    with app.app_context():
        _db.create_all()
        import_bids(subset, wait=False)  # only search is judged here: no similarity store
        rebuild_search_index(_db.session)
        yield app
        _db.session.remove()
        _db.drop_all()  # a shared database (TEST_DATABASE_URL) must not keep the corpus
        _db.engine.dispose()


def test_ndcg_at_10_does_not_regress(judged_app):
    scores = evaluate(get_search_service(), load_judgements())
    assert len(scores) >= 30
    mean = sum(scores.values()) / len(scores)
    print(f"nDCG@10 = {mean:.3f} ({judged_app.config['SEARCH_BACKEND']})")
    assert mean >= NDCG_FLOOR, sorted(scores.items(), key=lambda kv: kv[1])[:5]


# Known-item search (three title words, the bid in the top 3), on two disjoint samples (the
# second starts half a step in), so that a rule tuned to one is checked on the other. Before
# the title boost: Whoosh 0.944 and 0.960, PostgreSQL 0.916 and 0.909; with it (and "/"
# splitting words on PostgreSQL) Whoosh 0.969 and 0.980, PostgreSQL 0.969 and 0.973.
# A change that finds fewer known items fails here.
KNOWN_ITEM_FLOORS = {"whoosh": 0.965, "postgres": 0.965}


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_known_item_search_finds_a_bid_from_three_title_words(judged_app, offset):
    from search_index.relevance import known_item, known_item_sample

    sample = known_item_sample(300, offset)
    found = known_item(get_search_service(), sample)
    print(f"known-item = {found:.3f} over {len(sample)} bids (offset {offset})")
    floor = KNOWN_ITEM_FLOORS[judged_app.config["SEARCH_BACKEND"]]
    assert len(sample) >= 250 and found >= floor


def test_the_known_item_samples_are_disjoint(judged_app):
    from search_index.relevance import known_item_sample

    first, second = known_item_sample(300), known_item_sample(300, 0.5)
    assert len(first) == len(second) == 300
    assert not {i for i, _ in first} & {i for i, _ in second}
