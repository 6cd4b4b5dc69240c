"""The query language: words, "phrases", AND/OR/NOT, field:value, trailing wildcards.

A query Whoosh cannot make sense of never errors: it falls back to its plain
words and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.qparser import (
    FieldAliasPlugin,
    MultifieldParser,
    OrGroup,
    PrefixPlugin,
    WildcardPlugin,
)

# What a plain word is searched in; funder/organisation names count too.
DEFAULT_FIELDS = ("title", "summary", "text", "organisation", "funder", "programme")
# Fields a user may name (anything else, e.g. the permission fields, stays plain text).
QUERY_FIELDS = DEFAULT_FIELDS + (
    "themes",
    "locations",
    "status",
    "year",
    "amount",
    "submitted_on",
    "published",
)
ALIASES = {
    "themes": ["theme"],
    "locations": ["location"],
    "organisation": ["organization", "org"],
    "text": ["body"],
    "programme": ["program"],
}
FALLBACK_MESSAGE = (
    "We could not read that as a search expression, so we searched for its words instead."
)
_WORD = re.compile(r"\w+", re.UNICODE)
OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})  # words that are not words


@dataclass
class ParsedQuery:
    query: wq.Query | None  # None: no words at all (browse everything)
    text: str
    fell_back: bool = False
    message: str | None = None


def _query_schema(schema: Schema) -> Schema:
    restricted = Schema()
    for name in QUERY_FIELDS:
        restricted.add(name, schema[name])
    return restricted


# The words fields are stemmed ("community" is indexed as "commun"), so a typed prefix can be
# longer than the stem it should find: `communit*`. English stemmers cut at most a few letters
# off a prefix that long ("-ity", "-ies", "-ing").
STEMMED_FIELDS = frozenset(DEFAULT_FIELDS)
STEM_SLACK = 3
MIN_STEM = 4


class StemAwarePrefix(wq.Prefix):
    """A trailing wildcard on a stemmed field: the terms that start with the prefix, and the
    stems (up to STEM_SLACK letters shorter, at least MIN_STEM long) that the prefix starts with."""

    def _btexts(self, ixreader):
        yield from ixreader.expand_prefix(self.fieldname, self.text)
        if self.fieldname not in STEMMED_FIELDS:
            return
        for cut in range(1, STEM_SLACK + 1):
            stem = self.text[:-cut]
            if len(stem) < MIN_STEM:
                break
            if (self.fieldname, stem) in ixreader:
                yield stem.encode("utf-8")


class _StemAwarePrefixPlugin(PrefixPlugin):
    class PrefixNode(PrefixPlugin.PrefixNode):
        qclass = StemAwarePrefix

    nodetype = PrefixNode


class QueryBuilder:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.parser = MultifieldParser(list(DEFAULT_FIELDS), _query_schema(schema))
        self.parser.remove_plugin_class(WildcardPlugin)  # no leading/inner wildcards: they scan
        self.parser.add_plugin(_StemAwarePrefixPlugin())  # the whole vocabulary
        self.parser.add_plugin(FieldAliasPlugin(ALIASES))
        # Fallback: any of the words, best matches first (a stray token must not empty the page).
        self.plain = MultifieldParser(list(DEFAULT_FIELDS), _query_schema(schema), group=OrGroup)
        for plugin in list(self.plain.plugins):
            if type(plugin).__name__ not in ("WhitespacePlugin", "MultifieldPlugin"):
                self.plain.remove_plugin(plugin)

    def parse(self, text: str) -> ParsedQuery:
        text = (text or "").strip()[:1000]
        if not text:
            return ParsedQuery(None, "")
        try:
            parsed = self.parser.parse(text)
            if _is_broken(parsed):
                raise ValueError("unusable query")
            return ParsedQuery(parsed, text)
        except Exception:  # noqa: BLE001 - any parser trouble means: use the plain words
            return self.plain_words(text)

    def plain_words(self, text: str) -> ParsedQuery:
        words = [w for w in _WORD.findall(text) if w not in OPERATORS]
        if not words:
            return ParsedQuery(wq.NullQuery, text, True, FALLBACK_MESSAGE)
        parsed = self.plain.parse(" ".join(w.lower() for w in words))
        return ParsedQuery(parsed, text, True, FALLBACK_MESSAGE)


def _is_broken(q: wq.Query) -> bool:
    """Errors the parser tucked inside the tree, or nothing searchable left from real words."""
    if q is wq.NullQuery or isinstance(q, wq.qcore._NullQuery):
        return True
    stack = [q]
    while stack:
        node = stack.pop()
        if getattr(node, "error", None):
            return True
        stack.extend(node.children())
    return False


# --- trailing wildcards: the most frequent expansions only --------------------------------


class CappedPrefix(wq.Prefix):
    """A prefix resolved once against the whole index: its `terms` (the most frequent ones)."""

    def __init__(self, fieldname, text, terms: list[bytes], boost=1.0, constantscore=True):
        super().__init__(fieldname, text, boost=boost, constantscore=constantscore)
        self.terms = terms

    def _btexts(self, ixreader):
        return (t for t in self.terms if (self.fieldname, t) in ixreader)

    def __eq__(self, other):
        return super().__eq__(other) and getattr(other, "terms", None) == self.terms

    def __hash__(self):
        return super().__hash__()


def cap_prefixes(
    query: wq.Query, reader, limit: int, cache: dict | None = None
) -> tuple[wq.Query, list[str]]:
    """Each trailing wildcard expanded to at most `limit` of its terms, the most frequent first
    (as Lucene's and Elasticsearch's multi-term rewrites cap theirs); the prefixes that had
    more, as typed (`nano*`)."""
    capped: list[str] = []

    def visit(node):
        if not isinstance(node, wq.Prefix) or isinstance(node, CappedPrefix):
            return node
        key = (type(node), node.fieldname, node.text)
        resolved = cache.get(key) if cache is not None else None
        if resolved is None:
            found = set(node._btexts(reader))
            over = len(found) > limit
            if over:
                ranked = sorted(found, key=lambda t: (-reader.doc_frequency(node.fieldname, t), t))
                found = set(ranked[:limit])
            resolved = (sorted(found), over)
            if cache is not None:
                cache[key] = resolved
        if resolved[1] and f"{node.text}*" not in capped:
            capped.append(f"{node.text}*")
        return CappedPrefix(
            node.fieldname,
            node.text,
            resolved[0],
            boost=node.boost,
            constantscore=node.constantscore,
        )

    return query.accept(visit), capped


def capped_message(prefixes: list[str], limit: int) -> str:
    names = ", ".join(prefixes)
    return (
        f"{names} matches many words: we searched for the {limit} most common of them. "
        "Type more letters to reach the others."
    )


# --- exact-value fields: filters over doc values, not phrase queries ----------------------

# field (or alias) as typed -> the filter it becomes.
EXACT_FIELDS = {
    "funder": "funder",
    "status": "status",
    "year": "year",
    "theme": "theme",
    "themes": "theme",
    "location": "location",
    "locations": "location",
    "organisation": "organisation",
    "organization": "organisation",
    "org": "organisation",
}
_EXACT = re.compile(
    r'(?<![\w:"])(?P<field>'
    + "|".join(sorted(EXACT_FIELDS, key=len, reverse=True))
    + r'):(?:"(?P<quoted>[^"*]+)"|(?P<bare>[^\s()"*\[\]{}^~]+))(?=\s|$)',
    re.IGNORECASE,
)
# A clause may be lifted out as a filter only where every clause is ANDed.
_NOT_ANDED = re.compile(r"\b(?:OR|NOT|ANDNOT|ANDMAYBE)\b|[()]")


@dataclass
class ExactClause:
    field: str  # funder, status, year, theme, location, organisation
    value: str
    source: str  # as typed, to put back when the value is unknown


def split_exact(text: str) -> tuple[list[ExactClause], str]:
    """The `field:value` clauses on exact-value fields, and the rest of the query's text.

    Only when the query is a plain conjunction (no OR, NOT or parentheses) and its quotes
    balance: then filtering by a clause is the same as ANDing it."""
    if _NOT_ANDED.search(text) or text.count('"') % 2:
        return [], text
    clauses, inside = [], []
    for match in _EXACT.finditer(text):
        if text.count('"', 0, match.start()) % 2:  # within a "phrase": words, not a clause
            inside.append(match.span())
            continue
        value = (match.group("quoted") or match.group("bare") or "").strip()
        if value:
            clauses.append(
                ExactClause(EXACT_FIELDS[match.group("field").lower()], value, match.group(0))
            )
    if not clauses:
        return [], text
    rest = _EXACT.sub(lambda m: m.group(0) if m.span() in inside else " ", text)
    rest = re.sub(r"^\s*AND\b|\bAND\s*$", " ", re.sub(r"\bAND\s+(?=AND\b)", "", rest.strip()))
    return clauses, " ".join(rest.split())
