"""The search index's analyzer (`search_index.schema.make_analyzer`): its two cached filters give
token for token what Whoosh's own chain of four gave (texts, positions, characters, stop
words kept or dropped), for indexing, for queries and for the title's spelling words."""

from __future__ import annotations

import gzip
import json
import pickle
from itertools import islice

import pytest
from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.support.charset import accent_map

from search_index.schema import make_analyzer, make_schema

WHOOSH_CHAIN = (
    RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map) | StopFilter() | StemFilter()
)
SAMPLES = [
    "Crèche and ÉCOLES: the café's neighbours' befriending scheme, a 2-year pilot.",
    "A an the of to be I x y 42 and but — it is what it is, NOT the THE",
    "Connecting communities; connected, connection, connectivity and CONNECTS",
    "",
]


def _tokens(analyzer, text, **kwargs):
    return [
        (t.text, t.pos, t.startchar, t.endchar, t.stopped)
        for t in analyzer(text, positions=True, chars=True, **kwargs)
    ]


@pytest.fixture(scope="module")
def abstracts(request):
    from tests.conftest import SHARED_DATA

    with gzip.open(SHARED_DATA / "sbir-awards.jsonl.gz", "rt") as rows:
        return [json.loads(row).get("abstract", "") for row in islice(rows, 400)]


@pytest.mark.parametrize(
    "options",
    [{}, {"mode": "query"}, {"removestops": False}, {"no_morph": True}],
    ids=["index", "query", "stops-kept", "spelling"],
)
def test_the_analyzer_gives_whoosh_chains_tokens(abstracts, options):
    analyzer = make_analyzer()
    for text in SAMPLES + abstracts:
        assert _tokens(analyzer, text, **options) == _tokens(WHOOSH_CHAIN, text, **options)


def test_the_stored_schema_keeps_no_cache_and_reads_back_alike():
    analyzer = make_analyzer()
    _tokens(analyzer, SAMPLES[0])  # the caches now hold words
    restored = pickle.loads(pickle.dumps(make_schema()))  # as Whoosh stores it in the index
    assert len(pickle.dumps(analyzer)) < 2_000
    for text in SAMPLES:
        assert _tokens(restored["text"].analyzer, text) == _tokens(WHOOSH_CHAIN, text)
    assert restored["title"].separate_spelling()  # stemming, so titles spell unstemmed
