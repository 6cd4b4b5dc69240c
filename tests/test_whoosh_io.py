"""Whoosh's segment files read in place (search_index.whoosh_io): the same bytes and results
as Whoosh's own copying BufferFile, and a new reader no longer copies the index."""

from __future__ import annotations

import io
import os
import pickle
from array import array

import pytest
from whoosh import index as whoosh_index
from whoosh.filedb import compound
from whoosh.filedb.structfile import BufferFile

from search_index import whoosh_io
from search_index.query import QueryBuilder
from search_index.schema import make_schema
from search_index.whoosh_io import MemoryReader, ZeroCopyBufferFile

pytestmark = pytest.mark.no_database

DATA = (
    b"first line\nsecond line\n" + pickle.dumps({"k": [1, 2, 3]}) + array("i", [7, 8, 9]).tobytes()
)


@pytest.fixture
def as_shipped():
    """Whoosh's own BufferFile, restored after the test whatever it installed."""
    saved = compound.BufferFile
    compound.BufferFile = BufferFile
    yield
    compound.BufferFile = saved


def test_the_reader_reads_as_bytesio_does():
    ours, theirs = MemoryReader(memoryview(DATA)), io.BytesIO(DATA)
    for reader in (ours, theirs):
        reader.seek(0)
    assert ours.readline() == theirs.readline() == b"first line\n"
    assert ours.read(6) == theirs.read(6) == b"second"
    assert ours.tell() == theirs.tell() == 17
    assert ours.readline() == theirs.readline() == b" line\n"
    assert pickle.load(ours) == pickle.load(theirs) == {"k": [1, 2, 3]}
    a, b = array("i"), array("i")
    a.fromfile(ours, 3)
    b.fromfile(theirs, 3)
    assert a.tolist() == b.tolist() == [7, 8, 9]
    assert ours.read() == theirs.read() == b""
    assert ours.seek(-3, os.SEEK_END) == theirs.seek(-3, os.SEEK_END)
    assert ours.read(10) == theirs.read(10)
    assert ours.seek(4) == 4 and ours.read(2) == b"t "
    with pytest.raises(ValueError):
        ours.seek(-1)
    ours.close()
    assert ours.closed


def test_pickles_read_in_a_window_as_whoosh_reads_them():
    """`read_pickle` unpickles from a small window after the position (a larger one when the
    pickle runs past it) and leaves the position where Whoosh's own file would."""
    small = pickle.dumps((12, 3.5, b"block"), -1)
    large = pickle.dumps(list(range(5_000)), -1)  # far past the first window
    data = small + large + small + b"tail"
    ours, theirs = ZeroCopyBufferFile(memoryview(data)), BufferFile(data)
    for _ in range(3):
        assert ours.read_pickle() == theirs.read_pickle()
        assert ours.tell() == theirs.tell()
    assert ours.read(4) == theirs.read(4) == b"tail"
    truncated = ZeroCopyBufferFile(memoryview(large[:-10]))
    with pytest.raises((EOFError, pickle.UnpicklingError)):
        truncated.read_pickle()


def _index(folder):
    ix = whoosh_index.create_in(folder, make_schema())
    for segment in range(3):
        writer = ix.writer()
        for n in range(300):
            doc = segment * 300 + n
            writer.add_document(
                id=str(doc),
                title=f"garden {doc % 7} orchard" if doc % 3 else "theatre",
                text="community garden shed " * (1 + doc % 4) + f"plot {doc}",
            )
        writer.commit(merge=False)
    return ix


def _results(ix, q):
    with ix.searcher() as searcher:
        query = QueryBuilder(searcher.schema).parse(q).query
        return [(hit.docnum, round(hit.score, 9)) for hit in searcher.search(query, limit=50)]


def test_searches_read_the_same_through_either_file(tmp_path, as_shipped):
    ix = _index(tmp_path)
    queries = ["garden", '"garden shed"', "orchard OR theatre", "plot*", "title:garden"]
    shipped = {q: _results(ix, q) for q in queries}
    whoosh_io.install()
    assert {q: _results(ix, q) for q in queries} == shipped


def test_a_new_reader_no_longer_copies_each_segment_part(tmp_path, as_shipped):
    ix = _index(tmp_path)
    with ix.reader() as reader:  # as shipped: a BytesIO copy per part opened
        terms = reader.leaf_readers()[0][0]._terms._dbfile  # noqa: SLF001
        assert isinstance(terms.file, io.BytesIO)
    whoosh_io.install()
    with ix.reader() as reader:
        terms = reader.leaf_readers()[0][0]._terms._dbfile  # noqa: SLF001
        assert isinstance(terms, ZeroCopyBufferFile)
        assert isinstance(terms.file, MemoryReader)
        assert reader.doc_count() == 900
