"""Two texts side by side: shared passages wrapped in <mark>, and their shared terms."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from markupsafe import Markup

from search_index.similarity.matching import shared_terms
from search_index.similarity.sync import get_store
from search_index.similarity.text import passage_overlap, shared_spans, shingle_hashes


@dataclass
class Comparison:
    left: Markup
    right: Markup
    resemblance: float
    share_left: float
    share_right: float
    shared_terms: list[str] = field(default_factory=list)


def _highlight(text: str, spans: list[tuple[int, int]]) -> Markup:
    """Escape the text, wrapping shared passages in <mark>."""
    out, last = [], 0
    for start, end in spans:
        out.append(html.escape(text[last:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        last = end
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def compare_texts(text_a: str, text_b: str) -> Comparison:
    hashes_a, hashes_b = shingle_hashes(text_a), shingle_hashes(text_b)
    resemblance, share_a = passage_overlap(text_a, text_b)
    _, share_b = passage_overlap(text_b, text_a)
    terms: list[str] = []
    snap = get_store().snapshot()
    if snap is not None:
        qa, qb = snap.vectoriser.transform([text_a, text_b])
        terms = shared_terms(snap, qa, qb)
    return Comparison(
        left=_highlight(text_a, shared_spans(text_a, hashes_b.tolist())),
        right=_highlight(text_b, shared_spans(text_b, hashes_a.tolist())),
        resemblance=resemblance,
        share_left=share_a,
        share_right=share_b,
        shared_terms=terms,
    )
