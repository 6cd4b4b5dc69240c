"""Overlapping bids: which bids say much the same thing. The door views, commands and the
clustering use; how it works and what was measured is in docs/similarity.md.

    similar_to_bid(user, bid, limit=10) -> list[Match]      # never the bid itself
    similar_to_text(user, text, limit=10) -> list[Match]    # the draft check; nothing stored
    compare_texts(text_a, text_b) -> Comparison              # shared passages, for <mark>
    overlap_pairs(min_score) -> Iterator[OverlapPair]        # published bids, for clustering
    pairs_for(bid_id, min_score=...) -> list[OverlapPair]
    pairs_for_many(bid_ids, min_score=...) -> dict[int, list[OverlapPair]]  # pairs_for of each

Every match is a bid `user` may see (`bids.access`).
"""

from search_index.similarity.compare import Comparison, compare_texts
from search_index.similarity.matching import (
    MIN_WORDS,
    SHARED_TERMS,
    Match,
    check_text_length,
    lineage_candidates,
    scores_for,
    shared_terms,
    similar_to_bid,
    similar_to_text,
)
from search_index.similarity.pairs import (
    CANDIDATES,
    NEIGHBOURS,
    QUERY_TERMS,
    OverlapPair,
    overlap_pairs,
    pairs_for,
    pairs_for_many,
)
from search_index.similarity.relations import (
    NEAR_DUPLICATE,
    NEAR_DUPLICATE_SCORE,
    RELATED,
    RELATION_LABELS,
    STRONG,
    relation_for,
)
from search_index.similarity.sync import (
    MAX_CHARS,
    apply_changes,
    document_text,
    get_store,
    init_app,
    readable_text,
    rebuild,
)

__all__ = [
    "CANDIDATES",
    "MAX_CHARS",
    "MIN_WORDS",
    "NEAR_DUPLICATE",
    "NEAR_DUPLICATE_SCORE",
    "NEIGHBOURS",
    "QUERY_TERMS",
    "RELATED",
    "RELATION_LABELS",
    "SHARED_TERMS",
    "STRONG",
    "Comparison",
    "Match",
    "OverlapPair",
    "apply_changes",
    "check_text_length",
    "compare_texts",
    "document_text",
    "get_store",
    "init_app",
    "lineage_candidates",
    "overlap_pairs",
    "pairs_for",
    "pairs_for_many",
    "readable_text",
    "rebuild",
    "relation_for",
    "scores_for",
    "shared_terms",
    "similar_to_bid",
    "similar_to_text",
]
