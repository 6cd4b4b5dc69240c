"""Ranking rules both search backends share: the title boost, a rescoring of the first results.

A user who remembers a bid types a few words of its title; a bid whose title holds all of
them, the more so in the order typed and close together, should come before one that holds
them spread over its summary and body. As Elasticsearch's `rescore` does with a phrase
query, the engine's own ranking picks the first RESCORE_WINDOW results and only those are
rescored (a proximity check on every match would cost more than the search): each score is
multiplied by `title_factor`. Results past the window keep the engine's order, so pages
neither repeat nor skip a bid.

A title that begins with the words typed, in that order (stop words aside), counts once more:
someone who remembers a title recalls its beginning most often, and a query of a title's
first words otherwise ties with every title that holds them further in.

Which queries are rescored, the window, the factors and the proximity are decided here, once;
`SearchService` (Whoosh: the title's positions read from the index) and `PgSearchService`
(PostgreSQL: `pg_query.title_tsqueries` matched in SQL) find each title's factor, and
`rescore` reorders.
"""

from __future__ import annotations

import re
from functools import lru_cache

from search_index.query import OPERATORS, split_exact

RESCORE_WINDOW = 100
# A score is multiplied by 1 + ALL_WORDS_BOOST when the title holds every word, and by
# 1 + ALL_WORDS_BOOST + IN_ORDER_BOOST when it holds them in the order typed, each within
# PHRASE_SLOP words of the one before (stop words are not counted).
ALL_WORDS_BOOST = 1.0
IN_ORDER_BOOST = 1.0
BEGINS_BOOST = 1.0  # and by one more when the title begins with them (`title_begins`)
PHRASE_SLOP = 3
# Beyond this many words a query is a description, not a remembered title.
MAX_TITLE_WORDS = 8
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Anything that makes a query more than a list of words: phrases, fields, wildcards,
# grouping, boosts, ranges. Such a query says exactly what it wants; it is ranked as it is.
_SYNTAX = re.compile(r'["():*^~\[\]{}]')


def title_boost_words(text: str) -> list[str]:
    """The words a title must hold, all of them, to be boosted; none when the query is more
    than plain words (its `field:value` filters aside) or longer than MAX_TITLE_WORDS."""
    _, rest = split_exact((text or "").strip()[:1000])
    if not rest or _SYNTAX.search(rest):
        return []
    tokens = rest.split()
    if any(token in OPERATORS or token[0] in "+-" for token in tokens):
        return []
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(rest)))
    return words if 2 <= len(words) <= MAX_TITLE_WORDS else []


def title_factor(all_words: bool, in_order: bool, begins: bool = False) -> float:
    """What a score in the window is multiplied by."""
    if not all_words:
        return 1.0
    return (
        1.0
        + ALL_WORDS_BOOST
        + (IN_ORDER_BOOST if in_order else 0.0)
        + (BEGINS_BOOST if begins else 0.0)
    )


@lru_cache(maxsize=1)
def _analyzer():
    from search_index.schema import make_analyzer

    return make_analyzer()


def _stems(text: str) -> list[str]:
    return [token.text for token in _analyzer()(text or "")]


def title_begins(title: str, words: list[str]) -> bool:
    """Whether the title's first words are these, in this order (stemmed and accent-folded as
    the index does; stop words and punctuation aside): "Gas turbine engine oil additives"
    begins with `gas turbine engine`, "Compact gas turbine engine" does not."""
    wanted = _stems(" ".join(words))
    return len(wanted) >= 2 and _stems(title)[: len(wanted)] == wanted


def rescore(scored: list[tuple[int, float]], factors: dict[int, float]) -> list[tuple[int, float]]:
    """(id, score) in ranked order, the first RESCORE_WINDOW multiplied by their `factors`
    (an id without one keeps its score) and reordered, ties in their first order."""
    window, rest = scored[:RESCORE_WINDOW], scored[RESCORE_WINDOW:]
    boosted = [(key, score * factors.get(key, 1.0)) for key, score in window]
    order = sorted(range(len(boosted)), key=lambda i: (-boosted[i][1], i))
    return [boosted[i] for i in order] + rest


def in_order(positions: list[list[int]], slop: int = PHRASE_SLOP) -> bool:
    """Whether each word (its positions in the title, in the order typed) follows the one
    before it within `slop` positions, somewhere in the title."""
    reached = set(positions[0]) if positions else set()
    for following in positions[1:]:
        reached = {p for p in following if any(0 < p - q <= slop for q in reached)}
        if not reached:
            return False
    return bool(reached)
