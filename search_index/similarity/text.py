"""Text pieces of the matcher that need no index: words, passages (shingles), MinHash.

A "passage" is a run of `SHINGLE_WORDS` consecutive words. Two texts' resemblance is
the Jaccard overlap of their passage sets, estimated from MinHash signatures at corpus
scale and counted exactly when two texts are in hand (panel, compare page).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import numpy as np

SHINGLE_WORDS = 5
SIGNATURE_SIZE = 64
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20240917)  # fixed: signatures must agree across processes and runs
_A = _rng.integers(1, (1 << 61) - 1, SIGNATURE_SIZE, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, SIGNATURE_SIZE, dtype=np.uint64)
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_EMPTY_SIGNATURE = np.full(SIGNATURE_SIZE, np.iinfo(np.uint32).max, dtype=np.uint32)


_MARKUP = re.compile(r"\]\([^)\s]*\)|<[^>]{0,200}>|https?://\S+")


def markdown_words(source: str) -> str:
    """Markdown reduced to its words, fast: link targets, tags and URLs go; the tokenisers
    ignore the remaining punctuation (rendering Markdown costs ~5 ms a bid, 4 minutes at 42k)."""
    return _MARKUP.sub(" ", source or "")


def words(text: str) -> list[str]:
    """Lower-cased words, the units of passages."""
    return [w.lower() for w in _WORD.findall(text or "")]


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each word, aligned with `words(text)`."""
    return [m.span() for m in _WORD.finditer(text or "")]


def _token_hashes(tokens: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(t.encode()) for t in tokens), dtype=np.uint64, count=len(tokens))


def shingle_hashes(text: str, size: int = SHINGLE_WORDS) -> np.ndarray:
    """Stable 32-bit hashes of every run of `size` words (one hash per position, in order)."""
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint32)
    hashed = _token_hashes(tokens)
    if len(tokens) < size:
        size = len(tokens)
    count = len(tokens) - size + 1
    # A polynomial over the words' CRCs (uint64 wraps), folded to 32 bits: vectorised, stable.
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        combined = combined * np.uint64(1_000_003) + hashed[offset : offset + count]
    return ((combined ^ (combined >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def minhash(hashes: np.ndarray) -> np.ndarray:
    """MinHash signature (SIGNATURE_SIZE uint32) of a set of shingle hashes."""
    unique = np.unique(hashes)
    if unique.size == 0:
        return _EMPTY_SIGNATURE.copy()
    values = unique.astype(np.uint64)
    out = np.empty(SIGNATURE_SIZE, dtype=np.uint32)
    # (a*x + b) mod p with 61-bit p, in chunks of permutations to bound memory.
    for start in range(0, SIGNATURE_SIZE, 16):
        a = _A[start : start + 16, None]
        b = _B[start : start + 16, None]
        permuted = ((a * values[None, :]) + b) % _MERSENNE  # wraps mod 2**64: still a fixed hash
        out[start : start + 16] = (permuted.min(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return out


def signature(text: str) -> np.ndarray:
    return minhash(shingle_hashes(text))


def estimated_resemblance(sig: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of passage sets: share of equal MinHash slots (others: n x
    SIGNATURE_SIZE)."""
    others = np.atleast_2d(others)
    equal = (others == sig[None, :]) & (sig[None, :] != _EMPTY_SIGNATURE[None, :])
    return equal.mean(axis=1)


def passage_overlap(text_a: str, text_b: str) -> tuple[float, float]:
    """(resemblance, share of `text_a`'s passages found in `text_b`), counted exactly."""
    a = set(shingle_hashes(text_a).tolist())
    b = set(shingle_hashes(text_b).tolist())
    if not a or not b:
        return 0.0, 0.0
    common = len(a & b)
    return common / len(a | b), common / len(a)


def shared_spans(
    text: str, other_hashes: Iterable[int], size: int = SHINGLE_WORDS
) -> list[tuple[int, int]]:
    """Merged character ranges of `text` covered by passages that also occur in the other text."""
    other = np.fromiter(other_hashes, dtype=np.uint32)
    hashes = shingle_hashes(text, size)
    spans = word_spans(text)
    if len(spans) < size or other.size == 0:
        return []
    covered = np.zeros(len(spans), dtype=bool)
    for hit in np.flatnonzero(np.isin(hashes, other)):
        covered[hit : hit + size] = True
    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        if covered[i]:
            j = i
            while j + 1 < len(spans) and covered[j + 1]:
                j += 1
            ranges.append((spans[i][0], spans[j][1]))
            i = j + 1
        else:
            i += 1
    return ranges
