"""Ranking rules both search backends share: when a title that holds all of a query's words
is boosted, and by how much, as a multi-field search's "best fields" boost does.

A user who remembers a bid types a few words of its title; a bid whose title holds all of
them (the more closely together, the better) should come before one that holds them spread
over its summary and body. Which queries get the boost is decided here, once; each backend
expresses it in its own engine's scores, with its weights beside them (Whoosh:
`query.with_title_boost`, the title's score added again; PostgreSQL: `pg_query.title_tsqueries`
and `pg_service.TITLE_WEIGHTS`, a title-only cover-density rank added to the rank).
"""

from __future__ import annotations

import re

from search_index.query import OPERATORS, split_exact

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
