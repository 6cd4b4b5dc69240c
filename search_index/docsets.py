"""The documents a query matches, as a boolean numpy mask over the index's document numbers.

`Query.docs()` walks Whoosh's matcher tree one posting at a time in Python: for a broad word
(`system`, in 6 fields of 42,000 abstracts) that was most of a search's time. Here a term's
postings are read a block at a time into an array, and AND, OR and NOT become mask
operations. Anything else (phrases, ranges) is asked of Whoosh as before.
"""

from __future__ import annotations

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import ListMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound

from search_index.query import CappedPrefix


def query_mask(query: wq.Query, searcher, size: int) -> np.ndarray:
    """Which of the searcher's `size` documents the query matches (deleted ones included:
    the caller's mask of live documents removes them)."""
    mask = np.zeros(size, dtype=bool)
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        count = reader.doc_count_all()
        mask[offset : offset + count] = _mask(query, subsearcher, reader, count)
    return mask


def _mask(node: wq.Query, searcher, reader, count: int) -> np.ndarray:
    leaf = _leaf_mask(node, reader, count)
    if leaf is not None:
        return leaf
    shape = _shape(node)
    if shape is None or not shape[1]:
        return _whoosh_mask(node, searcher, count)
    op, children = shape
    masks = [_mask(child, searcher, reader, count) for child in children]
    if op == "not":
        return ~masks[0]
    if op == "andnot":
        return masks[0] & ~masks[1]
    out = masks[0]
    for mask in masks[1:]:
        if op == "and":
            out &= mask
        else:
            out |= mask
    return out


def _leaf_mask(node: wq.Query, reader, count: int) -> np.ndarray | None:
    if isinstance(node, wq.Term):
        return _term_mask(reader, node.fieldname, node.text, count)
    if isinstance(node, CappedPrefix):
        out = np.zeros(count, dtype=bool)
        for text in node.terms:
            out |= _term_mask(reader, node.fieldname, text, count)
        return out
    if node is wq.NullQuery or isinstance(node, wq.qcore._NullQuery):
        return np.zeros(count, dtype=bool)
    return None


def _shape(node: wq.Query) -> tuple[str, list] | None:
    """How a compound query combines its parts' masks, or None when it is not a plain set
    operation (Whoosh answers it)."""
    if isinstance(node, wq.And | wq.Require):
        return "and", node.children()
    if isinstance(node, wq.Or) and node.minmatch in (0, 1, None):
        return "or", node.children()
    if isinstance(node, wq.DisjunctionMax):
        return "or", node.children()
    if isinstance(node, wq.AndNot):
        return "andnot", [node.a, node.b]
    if isinstance(node, wq.AndMaybe):
        return "and", [node.a]
    if isinstance(node, wq.Not):
        return "not", [node.query]
    if isinstance(node, wq.WrappingQuery):
        return "and", [node.child]
    return None


def _term_mask(reader, fieldname: str, text, count: int) -> np.ndarray:
    out = np.zeros(count, dtype=bool)
    if (fieldname, text) not in reader:
        return out
    try:
        matcher = reader.postings(fieldname, text)
    except TermNotFound:
        return out
    if isinstance(matcher, FilterMatcher):  # a segment with deletions: the caller masks them
        matcher = matcher.child
    out[_posting_ids(matcher)] = True
    return out


def _posting_ids(matcher) -> np.ndarray:
    if isinstance(matcher, W3LeafMatcher):
        blocks = []
        while matcher.is_active():
            matcher._read_ids()  # noqa: SLF001 - the block's ids, decoded at once
            blocks.append(np.asarray(matcher._ids, dtype=np.int64))  # noqa: SLF001
            matcher._next_block()  # noqa: SLF001
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)
    if isinstance(matcher, ListMatcher):
        return np.asarray(matcher._ids, dtype=np.int64)  # noqa: SLF001
    return np.fromiter(matcher.all_ids(), dtype=np.int64)


def _whoosh_mask(node: wq.Query, searcher, count: int) -> np.ndarray:
    out = np.zeros(count, dtype=bool)
    out[np.fromiter(node.docs(searcher), dtype=np.int64)] = True
    return out
