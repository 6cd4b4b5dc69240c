"""nDCG@k of the search over a judged collection (`tests/data/relevance.jsonl`), and known-item
search (a few words of a title find that bid near the top)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sqlalchemy import select
from whoosh.analysis import STOP_WORDS

from bids.database import db
from bids.models import Bid

JUDGEMENTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "relevance.jsonl"


def load_judgements(path: Path = JUDGEMENTS) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def ndcg(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, ident in enumerate(ranked[:k]) if ident in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def evaluate(service, judgements: list[dict], k: int = 10) -> dict[str, float]:
    """query -> nDCG@k for an anonymous reader's first page, ranked by relevance."""
    scores = {}
    for judged in judgements:
        results = service.search(
            None, judged["query"], page=1, per_page=k, snippets=False, facets=False
        )
        ids = results.bid_ids
        identifiers = (
            {
                row[0]: row[1]
                for row in db.session.execute(select(Bid.id, Bid.identifier).where(Bid.id.in_(ids)))
            }
            if ids
            else {}
        )
        ranked = [identifiers.get(i, "") for i in ids]
        present = set(
            db.session.scalars(select(Bid.identifier).where(Bid.identifier.in_(judged["relevant"])))
        )
        scores[judged["query"]] = ndcg(ranked, present, k)
    return scores


_TITLE_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def title_words(title: str, n: int = 3) -> list[str]:
    """The first `n` distinct content words of a title (no stop words), as a user recalls it."""
    words: list[str] = []
    for word in _TITLE_WORD.findall(title or ""):
        word = word.lower()
        if word not in STOP_WORDS and word not in words:
            words.append(word)
        if len(words) == n:
            break
    return words


def known_item(service, bids: list[tuple[int, str]], words: int = 3, k: int = 3) -> float:
    """Known-item search: the share of (bid id, title) pairs whose bid is in the top `k` when
    searched for `words` words of its title (titles with fewer such words are left out)."""
    found = tried = 0
    for bid_id, title in bids:
        chosen = title_words(title, words)
        if len(chosen) < words:
            continue
        tried += 1
        results = service.search(
            None, " ".join(chosen), page=1, per_page=k, snippets=False, facets=False
        )
        found += bid_id in results.bid_ids
    return found / tried if tried else 0.0


def known_item_sample(size: int = 300, offset: float = 0.0) -> list[tuple[int, str]]:
    """Up to `size` bids spread evenly over the collection (deterministic): every step-th bid
    by id, starting `offset` of a step in, so that offsets 0 and 0.5 give disjoint samples
    (a ranking rule tuned on one is checked on the other)."""
    total = db.session.scalar(select(db.func.count(Bid.id))) or 0
    step = max(1, total // size)
    first = min(step - 1, int(step * offset))
    rows = db.session.execute(select(Bid.id, Bid.title).order_by(Bid.id)).all()
    return [(row[0], row[1]) for row in rows[first::step][:size]]
