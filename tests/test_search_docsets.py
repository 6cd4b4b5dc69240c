"""A query's documents as a mask, read from the postings a block at a time: the same documents
Whoosh's own `Query.docs()` finds, over several segments, deletions and long posting lists."""

from __future__ import annotations

import numpy as np
import pytest
from whoosh import index as whoosh_index
from whoosh import query as wq

from search_index.docsets import query_mask
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


@pytest.mark.parametrize("q", QUERIES)
def test_the_mask_holds_exactly_the_documents_whoosh_finds(searcher, q):
    parsed = QueryBuilder(searcher.schema).parse(q).query
    parsed, _ = cap_prefixes(parsed, searcher.reader(), 50)
    size = searcher.doc_count_all()
    live = np.array([not searcher.reader().is_deleted(d) for d in range(size)])
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
