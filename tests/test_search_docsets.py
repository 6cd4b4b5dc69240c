"""A query's documents as a mask, read from the postings a block at a time: the same documents
Whoosh's own `Query.docs()` finds, over several segments, deletions and long posting lists;
and their scores, computed over whole posting lists: the scores and order Whoosh gives."""

from __future__ import annotations

import numpy as np
import pytest
from whoosh import index as whoosh_index
from whoosh import query as wq

from search_index.docsets import evaluate, query_mask
from search_index.query import QueryBuilder, cap_prefixes
from search_index.schema import make_schema

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

WORDS = ["radar", "sensor", "laser", "battery", "network", "nanotube", "nanowire", "coating"]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docsets")
    ix = whoosh_index.create_in(folder, make_schema())
    # Three segments; "sensor" in 600 documents, more than one postings block (128 a block).
    for segment in range(3):
        writer = ix.writer()
        for n in range(400):
            doc = segment * 400 + n
            words = [WORDS[i] for i in range(len(WORDS)) if (doc >> i) % 3 == 0]
            writer.add_document(
                id=str(doc),
                title=" ".join(words[:2]) or "plain",
                summary="sensor array" if doc % 2 else "survey",
                text=" ".join(words) + (" the radar sensor network" if doc % 7 == 0 else ""),
                status="awarded" if doc % 5 == 0 else "submitted",
            )
        writer.commit(merge=False)
    writer = ix.writer()
    for doc in range(0, 1200, 11):  # deletions in every segment
        writer.delete_by_term("id", str(doc))
    writer.commit(merge=False)
    with ix.searcher() as s:
        assert len(s.leaf_searchers()) == 3
        yield s


QUERIES = [
    "sensor",
    "radar laser",
    "radar OR laser",
    "sensor AND NOT battery",
    "(radar OR nanotube) AND network NOT coating",
    '"radar sensor network"',
    "title:laser",
    "status:awarded sensor",
    "nano*",
    "sens* AND network",
    "zzzz",
    "radar ANDMAYBE laser",
]
# What only ranking tells apart: boosts, field weights, a lone NOT, a phrase's words.
SCORED = QUERIES + [
    '"sensor network"',
    '"radar laser"~3',
    '"the radar sensor"',
    '"sensor array" OR "radar network"',
    "radar^3 laser",
    "(sensor OR survey)^0.5 network",
    "NOT battery",
    'title:"laser battery" OR coating',
    "summary:sensor text:sensor",
]


def _parsed(searcher, q):
    """The query as the service runs it (wildcards capped), the index size, its live docs."""
    parsed = QueryBuilder(searcher.schema).parse(q).query
    parsed, _ = cap_prefixes(parsed, searcher.reader(), 50)
    size = searcher.doc_count_all()
    live = np.array([not searcher.reader().is_deleted(d) for d in range(size)])
    return parsed, size, live


@pytest.mark.parametrize("q", QUERIES)
def test_the_mask_holds_exactly_the_documents_whoosh_finds(searcher, q):
    parsed, size, live = _parsed(searcher, q)
    expected = np.zeros(size, dtype=bool)
    expected[list(parsed.docs(searcher))] = True
    got = query_mask(parsed, searcher, size) & live
    assert np.array_equal(got, expected & live), q
    assert expected.any() or q == "zzzz"


def test_queries_it_does_not_know_are_answered_by_whoosh(searcher):
    size = searcher.doc_count_all()
    every = query_mask(wq.Every(), searcher, size)
    assert every.sum() == searcher.doc_count()
    assert not query_mask(wq.NullQuery, searcher, size).any()


def _whoosh_ranking(searcher, parsed, live):
    return [
        (hit.docnum, hit.score) for hit in searcher.search(parsed, limit=None) if live[hit.docnum]
    ]


@pytest.mark.parametrize("q", SCORED)
def test_scores_and_order_are_whooshs(searcher, q):
    parsed, size, live = _parsed(searcher, q)
    expected = _whoosh_ranking(searcher, parsed, live)
    matches = evaluate(parsed, searcher, size)
    assert matches.scores is not None, q
    docs = np.flatnonzero(matches.mask & live)
    assert sorted(d for d, _ in expected) == docs.tolist(), q
    got = {int(d): float(matches.scores[d]) for d in docs}
    for docnum, score in expected:
        assert got[docnum] == pytest.approx(score, rel=1e-9), (q, docnum)
    # Whoosh's order: highest first, ties in document order.
    order = sorted(got, key=lambda d: (-round(got[d], 9), d))
    assert order == [d for d, _ in sorted(expected, key=lambda e: (-round(e[1], 9), e[0]))], q
    assert (matches.scores[~matches.mask] == 0).all()


def test_a_query_with_parts_only_whoosh_can_rank_has_no_scores(searcher):
    size = searcher.doc_count_all()
    fuzzy = wq.Or([wq.Term("text", "radar"), wq.FuzzyTerm("text", "lazer")])
    matches = evaluate(fuzzy, searcher, size)
    assert matches.scores is None
    live = np.array([not searcher.reader().is_deleted(d) for d in range(size)])
    expected = np.zeros(size, dtype=bool)
    expected[list(fuzzy.docs(searcher))] = True
    assert np.array_equal(matches.mask & live, expected)


@pytest.mark.parametrize("limit", [1, 5, 20, 37, 100])
def test_the_best_are_taken_highest_first_and_ties_in_document_order(limit):
    from search_index.service import _top

    rng = np.random.default_rng(7)
    scores = rng.choice([0.5, 1.25, 2.0, 3.5], size=200)  # many ties, at every cut
    matched = np.sort(rng.choice(200, size=90, replace=False))
    expected = sorted(matched.tolist(), key=lambda d: (-scores[d], d))[:limit]
    assert [d for d, _ in _top(matched, scores, limit)] == expected
