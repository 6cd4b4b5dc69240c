"""Our query language translated for PostgreSQL: a `tsquery` string and SQL filters.

The same language as `search_index.query` (words, "phrases", AND/OR/NOT, parentheses,
field:value, trailing prefix*), and the same fallback: a query that cannot be read is
searched for its plain words, and says so. User text never reaches SQL as SQL: a tsquery
string is assembled here from lexemes of letters and digits only (plus our own operators)
and passed to `to_tsquery` as a bound parameter; exact-value fields become SQL conditions
whose values are bound parameters too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    and_,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from whoosh.analysis import STOP_WORDS

from bids.models import Bid, BidStatus, Organisation
from search_index.pg_schema import TS_CONFIG, VECTOR_COLUMN
from search_index.query import FALLBACK_MESSAGE, OPERATORS, STEM_SLACK
from search_index.ranking import PHRASE_SLOP, title_boost_words

MIN_STEM = 4
MAX_LEXEME = 100
MAX_TEXT = 1000

# Field names (and aliases) searched by weight: title A, summary B, body C, attachments D.
WEIGHTED_FIELDS = {"title": "A", "summary": "B", "text": "CD", "body": "CD"}
ALIASES = {
    "theme": "themes",
    "location": "locations",
    "organization": "organisation",
    "org": "organisation",
    "program": "programme",
}
VALUE_FIELDS = frozenset(
    {"funder", "organisation", "programme", "status", "year", "themes", "locations"}
)

_LEXEME = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(
    r"""(?P<lparen>\() | (?P<rparen>\)) |
    (?P<field>(?P<fname>[A-Za-z_]+):(?:"(?P<fphrase>[^"]*)"|(?P<fword>[^\s()"]+))) |
    (?P<phrase>"(?P<ptext>[^"]*)") | (?P<quote>") | (?P<word>[^\s()"]+)""",
    re.VERBOSE | re.UNICODE,
)

VECTOR: ColumnElement[Any] = literal_column(f"bid.{VECTOR_COLUMN}")


class QuerySyntaxError(ValueError):
    pass


def lexemes(value: str) -> list[str]:
    return [w.lower()[:MAX_LEXEME] for w in _LEXEME.findall(value or "")]


# --- the parse tree -------------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # "and", "or", "not", "text", "value"
    children: list[Node] = field(default_factory=list)
    tsquery: str = ""  # "text": a tsquery fragment
    condition: Any = None  # "value": an SQL condition


def _text(fragment: str) -> Node:
    return Node("text", tsquery=fragment)


def _terms(words: list[str], weights: str, *, prefix: bool = False, phrase: bool = False) -> str:
    """A tsquery fragment for these (already sanitised) words."""
    if not words:
        return ""
    parts = [f"{w}:{weights}" if weights else w for w in words]
    if prefix:
        last = words[-1]
        star = f"{last}:*{weights}"
        # A typed prefix can be longer than its word's stem ("restorat*" for "restor"):
        # also the stems up to STEM_SLACK letters shorter (never below MIN_STEM).
        cuts = [last[:-cut] for cut in range(1, STEM_SLACK + 1) if len(last) - cut >= MIN_STEM]
        options = [star] + [f"{c}:{weights}" if weights else c for c in cuts]
        parts[-1] = "(" + " | ".join(options) + ")" if len(options) > 1 else star
    joiner = " <-> " if phrase else " & "
    joined = joiner.join(parts)
    return f"({joined})" if len(parts) > 1 else joined


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def json_values(column_name: str | Any):
    """The values of a JSON list column (themes, locations), as a table `v(value)`."""
    column = getattr(Bid, column_name) if isinstance(column_name, str) else column_name
    # Anything but a list (a stray scalar) holds no values, rather than raising.
    safe = case((func.json_typeof(column) == "array", column), else_=cast(literal("[]"), JSON))
    return func.json_array_elements_text(safe).table_valued("value").alias("v")


def json_list_condition(
    column_name: str, values: list[str], *, prefix: bool = False, lower: bool = True
) -> ColumnElement:
    table = json_values(column_name)
    subject = func.btrim(table.c.value)
    subject = func.lower(subject) if lower else subject
    if prefix:
        match = or_(*[subject.like(_like_prefix(v), escape="\\") for v in values])
    else:
        match = subject.in_(values)
    return exists(select(literal_column("1")).select_from(table).where(match))


def _name_condition(column, value: str, prefix: bool) -> ColumnElement:
    """An organisation named exactly so (case aside) when one is; else the names holding these
    words (as Whoosh: `funder:"Department of Defense"` is not also its Education Activity)."""
    words = lexemes(value)
    if not words:
        raise QuerySyntaxError("empty value")
    query = func.to_tsquery(TS_CONFIG, _terms(words, "", prefix=prefix, phrase=True))
    named = func.lower(Organisation.name) == value.lower()
    if prefix:
        return column.in_(
            select(Organisation.id).where(
                func.to_tsvector(TS_CONFIG, Organisation.name).op("@@")(query)
            )
        )
    other = aliased(Organisation)  # its own table, not correlated with the outer one
    by_words = select(Organisation.id).where(
        ~exists(select(other.id).where(func.lower(other.name) == value.lower())),
        func.to_tsvector(TS_CONFIG, Organisation.name).op("@@")(query),
    )
    return column.in_(select(Organisation.id).where(named).union_all(by_words))


def value_condition(name: str, value: str, prefix: bool) -> ColumnElement:
    value = value.strip()
    if name == "funder":
        return _name_condition(Bid.funder_id, value, prefix)
    if name == "organisation":
        return _name_condition(Bid.organisation_id, value, prefix)
    if name == "programme":
        words = lexemes(value)
        if not words:
            raise QuerySyntaxError("empty value")
        query = func.to_tsquery(TS_CONFIG, _terms(words, "", prefix=prefix, phrase=True))
        return func.to_tsvector(TS_CONFIG, Bid.programme).op("@@")(query)
    if name == "status":
        statuses = {s.value for s in BidStatus}
        wanted = value.lower()
        if prefix:
            return Bid.status.in_(sorted(s for s in statuses if s.startswith(wanted)) or [""])
        return Bid.status == wanted
    if name == "year":
        if not value.isdigit() or prefix or not 1000 <= int(value) <= 9998:
            raise QuerySyntaxError("not a year")
        return year_expression() == int(value)
    if name in ("themes", "locations"):
        if not value:
            raise QuerySyntaxError("empty value")
        return json_list_condition(name, [value.lower()], prefix=prefix)
    raise QuerySyntaxError(f"unknown field {name}")


def year_expression():
    """The year a bid is filed under: submitted, else decided (as `Bid.year`), never published."""
    return cast(extract("year", func.coalesce(Bid.submitted_on, Bid.decided_on)), Integer)


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text_: str):
        self.tokens: list[tuple[str, Any]] = []
        for match in _TOKEN.finditer(text_):
            if match.group("lparen"):
                kind = "lparen"
            elif match.group("rparen"):
                kind = "rparen"
            elif match.group("quote"):
                kind = "quote"
            elif match.group("field"):
                kind = "field"
            elif match.group("phrase") is not None:
                kind = "phrase"
            elif match.group("word"):
                word = match.group("word")
                kind = "op" if word in OPERATORS else "word"
            self.tokens.append((kind, match))
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node | None:
        node = self.or_expr()
        if self.peek() is not None:
            raise QuerySyntaxError("unexpected token")
        return node

    def _is_op(self, name: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1].group("word") == name

    def or_expr(self) -> Node | None:
        children = [self.and_expr()]
        while self._is_op("OR"):
            self.take()
            children.append(self.and_expr())
        kept = [c for c in children if c is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Node("or", kept)

    def and_expr(self) -> Node | None:
        children = [self.unary()]
        while True:
            token = self.peek()
            if token is None or token[0] == "rparen" or self._is_op("OR"):
                break
            if self._is_op("AND"):
                self.take()
            children.append(self.unary())
        kept = [c for c in children if c is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Node("and", kept)

    def unary(self) -> Node | None:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError("expression expected")
        if self._is_op("NOT"):
            self.take()
            inner = self.unary()
            return Node("not", [inner]) if inner is not None else None
        kind, match = self.take()
        if kind == "lparen":
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing[0] != "rparen":
                raise QuerySyntaxError("unbalanced parenthesis")
            self.take()
            return inner
        if kind in ("rparen", "quote", "op"):
            raise QuerySyntaxError(f"unexpected {kind}")
        if kind == "phrase":
            return self._leaf(None, match.group("ptext"), phrase=True)
        if kind == "field":
            name = match.group("fname").lower()
            name = ALIASES.get(name, name)
            value = (
                match.group("fphrase")
                if match.group("fphrase") is not None
                else (match.group("fword"))
            )
            if name in WEIGHTED_FIELDS or name in VALUE_FIELDS:
                return self._leaf(name, value, phrase=match.group("fphrase") is not None)
            return self._leaf(None, match.group("field"))  # not a field of ours: its words
        return self._leaf(None, match.group("word"))

    @staticmethod
    def _leaf(name: str | None, value: str, *, phrase: bool = False) -> Node | None:
        prefix = not phrase and value.endswith("*") and bool(lexemes(value))
        if name in VALUE_FIELDS:
            raw = value[:-1] if prefix else value
            return Node("value", condition=value_condition(name, raw, prefix))
        weights = WEIGHTED_FIELDS.get(name or "", "")
        words = lexemes(value)
        fragment = _terms(words, weights, prefix=prefix, phrase=phrase)
        return _text(fragment) if fragment else None


# --- to SQL ---------------------------------------------------------------------------------


def matches(tsquery: str) -> ColumnElement:
    return VECTOR.op("@@")(func.to_tsquery(TS_CONFIG, tsquery))


def _to_sql(node: Node) -> tuple[str | None, Any]:
    """(tsquery, None) when the subtree is pure text, else (None, condition)."""
    if node.kind == "text":
        return node.tsquery, None
    if node.kind == "value":
        return None, node.condition
    parts = [_to_sql(child) for child in node.children]
    if node.kind == "not":
        ts, cond = parts[0]
        return (f"!{ts}" if ts.startswith("(") else f"!({ts})", None) if ts else (None, not_(cond))
    texts = [ts for ts, _ in parts if ts]
    conditions = [cond for ts, cond in parts if not ts]
    if node.kind == "and":
        if not conditions:
            return "(" + " & ".join(texts) + ")", None
        if texts:
            conditions.insert(0, matches("(" + " & ".join(texts) + ")"))
        return None, and_(*conditions)
    if not conditions:
        return "(" + " | ".join(texts) + ")", None
    return None, or_(*([matches(t) for t in texts] + conditions))


def _positive_terms(node: Node, out: list[str]) -> list[str]:
    if node.kind == "text":
        out.append(node.tsquery)
    elif node.kind in ("and", "or"):
        for child in node.children:
            _positive_terms(child, out)
    return out


@dataclass
class PgQuery:
    condition: ColumnElement | None  # None: no words at all (browse everything)
    rank_tsquery: str | None  # what ranking and snippets look for
    text: str
    fell_back: bool = False
    message: str | None = None
    # The title boost (search_index.ranking): all the words in the title; and in the title in
    # the order typed, each within a few positions of the one before.
    title_tsquery: str | None = None
    title_phrase_tsquery: str | None = None
    title_words: list[str] = field(default_factory=list)  # as typed (`ranking.title_begins`)


def _compile(node: Node, text_: str, fell_back: bool = False) -> PgQuery:
    ts, condition = _to_sql(node)
    if ts:
        condition = matches(ts)
    positive = _positive_terms(node, [])
    rank = " | ".join(positive) if positive else None
    title, phrase = title_tsqueries(text_)
    return PgQuery(
        condition,
        rank,
        text_,
        fell_back,
        FALLBACK_MESSAGE if fell_back else None,
        title,
        phrase,
        title_boost_words(text_),
    )


def title_tsqueries(text_: str) -> tuple[str | None, str | None]:
    """The title boost's two tsqueries: every word in the title (`a:A & b:A`), and each word
    followed in the title by the next within a few positions (stop words count here, unlike in
    Whoosh, so one more than PHRASE_SLOP)."""
    words = [w for word in title_boost_words(text_) for w in lexemes(word)]
    words = list(dict.fromkeys(words))
    if not words:
        return None, None
    every = " & ".join(f"{w}:A" for w in words)
    # A stop word has no lexeme to be near ("mount <1> for" would become just "mount"): the
    # chain goes from one content word to the next, the stop words between them counted.
    chain = [w for w in words if w not in STOP_WORDS]
    if len(chain) < 2:
        return every, None
    pairs = [
        "(" + " | ".join(f"{a}:A <{d}> {b}:A" for d in range(1, PHRASE_SLOP + 2)) + ")"
        for a, b in zip(chain, chain[1:], strict=False)
    ]
    return every, " & ".join(pairs)


def parse(text_: str) -> PgQuery:
    text_ = (text_ or "").strip()[:MAX_TEXT]
    if not text_:
        return PgQuery(None, None, "")
    try:
        node = _Parser(text_).parse()
        if node is None:
            raise QuerySyntaxError("nothing searchable")
        return _compile(node, text_)
    except QuerySyntaxError:
        return plain_words(text_)


def plain_words(text_: str) -> PgQuery:
    """The fallback: any of the words, best matches first."""
    words = [w for w in re.findall(r"\w+", text_) if w not in OPERATORS]
    terms = [t for w in words for t in lexemes(w)]
    if not terms:
        return PgQuery(false(), None, text_, True, FALLBACK_MESSAGE)
    node = Node("or", [_text(t) for t in dict.fromkeys(terms)])
    return _compile(node, text_, fell_back=True)
