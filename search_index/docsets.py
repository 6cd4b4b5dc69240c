"""The documents a query matches, and their scores, as numpy arrays over document numbers.

`Query.docs()` walks Whoosh's matcher tree one posting at a time in Python: for a broad word
(`system`, in 6 fields of 42,000 abstracts) that was most of a search's time. Here a term's
postings are read a block at a time into arrays, and AND, OR and NOT become mask
operations; a phrase intersects its words' postings, then reads positions only where every
word is. Anything else (ranges, fuzzy terms) is asked of Whoosh as before.

Ranking is done the same way (`evaluate(..., scored=True)`): each term's BM25F score is
computed over its whole posting list at once, from the weights in the postings and the field
lengths Whoosh stores, with Whoosh's own formula, statistics and rules for combining scores
(AND and OR add, AND NOT keeps the left side's, a phrase scores as its words), so the order is
Whoosh's. Whoosh's collector scores one document at a time, and for a wildcard (`nano*`: 300
terms over six fields) its block-max pruning re-walked the matcher tree per document: 216 ms
of a 42k search, 95 % of it in `max_quality`. A query holding anything else that scores
(ranges, fuzzy terms) has no scores here (`Matches.scores` is None) and Whoosh ranks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound
from whoosh.scoring import BM25F
from whoosh.util.numeric import _length_byte_cache

from search_index.query import CappedPrefix

# byte (as Whoosh stores a field's length in a document) -> the length it stands for.
_BYTE_TO_LENGTH = np.asarray(_length_byte_cache, dtype=np.float64)

# (segment reader, field name) -> that segment's field lengths by document number.
Lengths = Callable[[object, str], np.ndarray]


@dataclass
class Matches:
    mask: np.ndarray  # bool, by document number (deleted documents may be set)
    scores: np.ndarray | None  # float64, 0 outside the mask; None: only Whoosh can rank it


def query_mask(query: wq.Query, searcher, size: int) -> np.ndarray:
    """Which of the searcher's `size` documents the query matches (deleted ones included:
    the caller's mask of live documents removes them)."""
    return evaluate(query, searcher, size, scored=False).mask


def evaluate(
    query: wq.Query, searcher, size: int, *, scored: bool = True, lengths: Lengths | None = None
) -> Matches:
    """The query's documents and (if `scored`) their BM25F scores as Whoosh would give them;
    `lengths` may supply cached field lengths (see `DocValues.field_lengths`)."""
    mask = np.zeros(size, dtype=bool)
    scores: np.ndarray | None = np.zeros(size) if scored else None
    if scored and not isinstance(searcher.weighting, BM25F):
        scores = None
    for subsearcher, offset in searcher.leaf_searchers():
        reader = subsearcher.reader()
        count = reader.doc_count_all()
        part = _Segment(searcher, subsearcher, reader, count, scores is not None, lengths)
        seg_mask, seg_scores = part.eval(query)
        mask[offset : offset + count] = seg_mask
        if scores is not None:
            if seg_scores is None:
                scores = None
            else:
                scores[offset : offset + count] = seg_scores
    return Matches(mask, scores)


def segment_lengths(reader, fieldname: str) -> np.ndarray:
    """One segment's lengths of a field, by document number (1 where it records none, as
    Whoosh's scorer assumes)."""
    count = reader.doc_count_all()
    column = reader._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)  # noqa: SLF001
    if column is None:
        return np.ones(count)
    stored = min(count, column._count)  # noqa: SLF001 - documents past it have none
    raw = np.zeros(count, dtype=np.uint8)
    if stored:
        data = column._dbfile.get(column._basepos, stored)  # noqa: SLF001 - one byte a document
        raw[:stored] = np.frombuffer(data, dtype=np.uint8)
    return _BYTE_TO_LENGTH[raw]


class _Segment:
    """One segment's evaluation: each node gives (mask, scores or None)."""

    def __init__(self, top, searcher, reader, count: int, scored: bool, lengths):
        self.top = top  # the statistics (idf, average lengths) are the whole index's
        self.searcher = searcher
        self.reader = reader
        self.count = count
        self.scored = scored
        self.lengths = lengths or segment_lengths
        self._read: dict[tuple[str, bytes], tuple] = {}  # a phrase reads its words twice

    def field(self, fieldname: str):
        schema = self.top.schema
        return schema[fieldname] if fieldname in schema else None  # noqa: SIM401 - no .get

    def zeros(self) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros(self.count, dtype=bool), np.zeros(self.count) if self.scored else None

    def eval(self, node: wq.Query) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(node, wq.Term):
            return self.terms(node.fieldname, [node.text], node.boost)
        if isinstance(node, CappedPrefix):
            return self.terms(node.fieldname, node.terms, node.boost)
        if node is wq.NullQuery or isinstance(node, wq.qcore._NullQuery):
            return self.zeros()
        if isinstance(node, wq.Phrase):
            mask = self.phrase_mask(node)
            if not self.scored:
                return mask, None
            _, scores = self.terms(node.fieldname, node.words, node.boost)
            return mask, _within(scores, mask)  # Whoosh scores a phrase as its words
        combined = self.compound(node)
        if combined is not None:
            return combined
        return self.whoosh_mask(node), None

    def compound(self, node: wq.Query) -> tuple[np.ndarray, np.ndarray | None] | None:
        """A set operation over its parts' results; None if it is none Whoosh's way."""
        if isinstance(node, wq.And | wq.Require | wq.Or | wq.DisjunctionMax):
            return self.many(node)
        if isinstance(node, wq.AndNot | wq.AndMaybe):
            (a_mask, a_scores), (b_mask, b_scores) = self.eval(node.a), self.eval(node.b)
            if isinstance(node, wq.AndNot):
                mask, scores = a_mask & ~b_mask, a_scores
            else:  # the right side only adds to the score
                mask = a_mask
                scores = None if a_scores is None or b_scores is None else a_scores + b_scores
            return mask, _within(scores, mask)
        if isinstance(node, wq.Not):
            mask = ~self.eval(node.query)[0]
            return mask, np.where(mask, node.boost, 0.0) if self.scored else None
        if isinstance(node, wq.WrappingQuery):
            return self.eval(node.child)[0], None
        return None

    def many(self, node: wq.Query) -> tuple[np.ndarray, np.ndarray | None] | None:
        """AND, OR and their kin over any number of parts: the scores add (a disjunction takes
        the best; `Require` counts its first part only)."""
        if isinstance(node, wq.Or) and (node.minmatch not in (0, 1, None) or node.scale):
            return None
        if isinstance(node, wq.DisjunctionMax) and node.tiebreak:
            return None
        parts = [self.eval(child) for child in node.children()]
        if not parts:
            return None
        if isinstance(node, wq.And | wq.Require):
            mask = np.logical_and.reduce([m for m, _ in parts])
        else:
            mask = np.logical_or.reduce([m for m, _ in parts])
        counted = [s for _, s in (parts[:1] if isinstance(node, wq.Require) else parts)]
        scores = [s for s in counted if s is not None]
        if not self.scored or len(scores) < len(counted):
            return mask, None
        reduce = np.maximum.reduce if isinstance(node, wq.DisjunctionMax) else np.add.reduce
        return mask, _within(reduce(scores) * node.boost, mask)

    def terms(self, fieldname: str, texts, boost: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Documents holding any of the terms in the field, and the sum of their scores."""
        mask, scores = self.zeros()
        field = self.field(fieldname)
        scorable = field is not None and field.scorable
        for text in texts:
            found = self.postings(fieldname, text, weights=self.scored)
            if found is None:
                continue
            ids, weights, _ = found
            mask[ids] = True
            if scores is None or weights is None:
                continue
            if scorable:
                scores[ids] += self.bm25(fieldname, text, ids, weights)
            else:  # as Whoosh's WeightScorer: the posting's weight
                scores[ids] += weights
        if scores is not None and boost != 1.0:
            scores *= boost
        return mask, scores

    def bm25(self, fieldname: str, text, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """`whoosh.scoring.bm25` over a posting list, with the same statistics."""
        weighting = self.top.weighting
        b = weighting._field_B.get(fieldname, weighting.B)  # noqa: SLF001
        k1 = weighting.K1
        idf = self.top.idf(fieldname, text)
        avgfl = self.top.avg_field_length(fieldname) or 1
        fl = self.lengths(self.reader, fieldname)[ids]
        return idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * fl / avgfl)))

    def postings(self, fieldname: str, text, *, weights: bool, values: bool = False):
        """A term's document numbers (and weights, and raw values) in this segment, or None
        if it has none."""
        field = self.field(fieldname)
        if field is None:
            return None
        if not isinstance(text, bytes):
            try:
                text = field.to_bytes(text)
            except ValueError:
                return None
        key = (fieldname, text)
        read = self._read.get(key)
        if (
            read is not None
            and (read[1] is not None or not weights)
            and (read[2] is not None or not values)
        ):
            return read
        if key not in self.reader:
            return None
        try:
            matcher = self.reader.postings(fieldname, text)
        except TermNotFound:
            return None
        if isinstance(matcher, FilterMatcher):  # a segment with deletions: the caller masks them
            matcher = matcher.child
        read = _read_postings(matcher, weights, values)
        if values:
            self._read[key] = read
        return read

    def phrase_mask(self, node: wq.Phrase) -> np.ndarray:
        """The documents holding the phrase's words in order, each within `slop` positions of
        the one before (Whoosh's rule): the words' postings intersected first, then only the
        positions of the documents holding every word are read."""
        field = self.field(node.fieldname)
        if field is None or not field.format.supports("positions") or len(node.words) < 2:
            return self.whoosh_mask(node)
        lists = []
        for word in node.words:
            found = self.postings(node.fieldname, word, weights=self.scored, values=True)
            if found is None:
                return np.zeros(self.count, dtype=bool)
            lists.append(found)
        candidates = lists[0][0]
        for ids, _, _ in lists[1:]:
            candidates = np.intersect1d(candidates, ids, assume_unique=True)
        mask = np.zeros(self.count, dtype=bool)
        if not candidates.size:
            return mask
        decode = field.format.decode_positions
        per_word = [
            [values[i] for i in np.searchsorted(ids, candidates).tolist()]
            for ids, _, values in lists
        ]
        steps = range(1, max(1, node.slop) + 1)
        for n, docnum in enumerate(candidates.tolist()):
            reached = set(decode(per_word[0][n]))
            for word_values in per_word[1:]:
                positions = set(decode(word_values[n]))
                reached = {q + step for q in reached for step in steps} & positions
                if not reached:
                    break
            else:
                mask[docnum] = True
        return mask

    def whoosh_mask(self, node: wq.Query) -> np.ndarray:
        out = np.zeros(self.count, dtype=bool)
        out[np.fromiter(node.docs(self.searcher), dtype=np.int64)] = True
        return out


def _within(scores: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    """Scores with 0 wherever the mask does not hold (a part of an AND that matched alone)."""
    return None if scores is None else np.where(mask, scores, 0.0)


def _block_ids(matcher: W3LeafMatcher) -> np.ndarray:
    """The current block's document numbers (stored as deltas unless they fit in bytes)."""
    if matcher._data is None:  # noqa: SLF001
        matcher._read_data()  # noqa: SLF001 - the block, unpickled once
    ids = np.asarray(matcher._data[0], dtype=np.int64)  # noqa: SLF001
    return ids if matcher._byteids else np.cumsum(ids)  # noqa: SLF001


def _read_postings(
    matcher, weights: bool, values: bool = False
) -> tuple[np.ndarray, np.ndarray | None, list | None]:
    """(ids, weights or None, raw values or None) of a whole posting list."""
    if isinstance(matcher, W3LeafMatcher):
        id_blocks, weight_blocks, found_values = [], [], []
        while matcher.is_active():
            id_blocks.append(_block_ids(matcher))
            if weights:
                matcher._read_weights()  # noqa: SLF001 - and its weights
                weight_blocks.append(np.asarray(matcher._weights, dtype=np.float64))  # noqa: SLF001
            if values:
                matcher._read_values()  # noqa: SLF001 - and its values (positions)
                found_values.extend(matcher._values)  # noqa: SLF001
            matcher._next_block()  # noqa: SLF001
        ids = np.concatenate(id_blocks) if id_blocks else np.zeros(0, dtype=np.int64)
        return (
            ids,
            (np.concatenate(weight_blocks) if weight_blocks else np.zeros(0)) if weights else None,
            found_values if values else None,
        )
    ids_found, weights_found, values_found = [], [], []
    while matcher.is_active():  # one posting at a time (a list in memory, or another codec)
        ids_found.append(matcher.id())
        if weights:
            weights_found.append(matcher.weight())
        if values:
            values_found.append(matcher.value())
        matcher.next()
    return (
        np.asarray(ids_found, dtype=np.int64),
        np.asarray(weights_found, dtype=np.float64) if weights else None,
        values_found if values else None,
    )
