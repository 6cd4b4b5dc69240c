"""nDCG@k of the search over a judged collection (`tests/data/relevance.jsonl`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from sqlalchemy import select

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
