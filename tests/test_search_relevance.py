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
# The figure first reached on this subset (0.919); a change that ranks worse fails here.
NDCG_FLOOR = 0.915


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


# Known-item search (three title words, the bid in the top 3): the target is 0.95,
# reached on neither backend yet. This subset first measured 0.934 on Whoosh (the whole corpus
# 0.883, in `make bench`, where Phase I and II awards often share a title) and 0.916 on
# PostgreSQL. A change that finds fewer known items fails here.
KNOWN_ITEM_FLOORS = {"whoosh": 0.93, "postgres": 0.91}


def test_known_item_search_finds_a_bid_from_three_title_words(judged_app):
    from search_index.relevance import known_item, known_item_sample

    sample = known_item_sample(300)
    found = known_item(get_search_service(), sample)
    print(f"known-item = {found:.3f} over {len(sample)} bids")
    floor = KNOWN_ITEM_FLOORS[judged_app.config["SEARCH_BACKEND"]]
    assert len(sample) >= 250 and found >= floor
