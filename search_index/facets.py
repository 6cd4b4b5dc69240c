"""Facets over the index's doc values: the mask a facet choice selects, and the counts shown.

A facet's counts ignore its own selection (so its alternatives stay visible) but honour
every other facet's; the facet fields and bands are declared in `search_index.filters`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search_index.docvalues import MISSING, Values
from search_index.filters import BANDS, FACET_FIELDS, SearchFilters, band_label

FACET_LIMIT = 12


@dataclass
class FacetValue:
    value: str
    count: int
    label: str
    selected: bool = False


def facet_mask(name: str, selected: list, values: Values) -> np.ndarray:
    """The documents one facet's selected values admit (OR within the facet)."""
    if name == "band":
        amount = values.numeric["amount"]
        mask = np.zeros(values.n, dtype=bool)
        for key, low, high in BANDS:
            if key in selected:
                hit = (amount >= low * 100) & (amount != MISSING)
                if high is not None:
                    hit &= amount < high * 100
                mask |= hit
        return mask
    if name == "year":
        return np.isin(values.numeric["year"], [int(v) for v in selected])
    if name in ("theme", "location"):
        vocab = values.vocab[name]
        codes = [vocab.codes[v] for v in selected if v in vocab.codes]
        docs, doc_codes = values.multi[name]
        mask = np.zeros(values.n, dtype=bool)
        mask[docs[np.isin(doc_codes, codes)]] = True
        return mask
    vocab = values.vocab[name]
    wanted = {v.lower() for v in selected} if name == "funder" else set(selected)
    codes = [c for v, c in vocab.codes.items() if (v.lower() if name == "funder" else v) in wanted]
    return np.isin(values.single[name], codes)


def facet_counts(
    values: Values, base: np.ndarray, facet_masks: dict[str, np.ndarray], filters: SearchFilters
) -> dict[str, list[FacetValue]]:
    """Every facet's values with their counts among the documents `base` admits."""
    out: dict[str, list[FacetValue]] = {}
    for name in FACET_FIELDS:
        mask = base.copy()
        for other, other_mask in facet_masks.items():
            if other != name:  # a facet's own choice does not hide its alternatives
                mask &= other_mask
        selected = {str(v) for v in getattr(filters, name)}
        out[name] = _count(name, mask, values, selected)
    return out


def _count(name: str, mask: np.ndarray, values: Values, selected: set[str]) -> list[FacetValue]:
    if name == "band":
        return _count_bands(values.numeric["amount"][mask], selected)
    if name == "year":
        years = values.numeric["year"][mask]
        years = years[years != MISSING]
        found, counts = np.unique(years, return_counts=True)
        items = [
            FacetValue(str(y), int(c), str(y), str(y) in selected)
            for y, c in zip(found.tolist(), counts.tolist(), strict=True)
        ]
        items.sort(key=lambda f: -int(f.value))
    else:
        if name in ("theme", "location"):
            docs, codes = values.multi[name]
            codes = codes[mask[docs]] if docs.size else codes
        else:
            codes = values.single[name][mask]
            codes = codes[codes != MISSING]
        vocab = values.vocab[name].values
        counts = np.bincount(codes, minlength=len(vocab)) if codes.size else np.zeros(0, int)
        nonzero = np.flatnonzero(counts)
        items = [
            FacetValue(
                vocab[c],
                int(counts[c]),
                vocab[c].capitalize() if name == "status" else vocab[c],
                vocab[c] in selected,
            )
            for c in nonzero
        ]
        items.sort(key=lambda f: (-f.count, f.value.lower()))
    chosen = [f for f in items if f.selected]
    top = items[:FACET_LIMIT]
    return top + [f for f in chosen if f not in top]


def _count_bands(amount: np.ndarray, selected: set[str]) -> list[FacetValue]:
    amount = amount[amount != MISSING]
    items = []
    for key, low, high in BANDS:
        hit = amount >= low * 100
        if high is not None:
            hit &= amount < high * 100
        count = int(hit.sum())
        if count or key in selected:
            items.append(FacetValue(key, count, band_label(key), key in selected))
    return items
