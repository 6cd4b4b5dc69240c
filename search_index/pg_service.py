"""Search on PostgreSQL: the same interface and results as the Whoosh service, answered in SQL.

The database keeps each bid's weighted `tsvector` itself (`search_index.pg_schema`), so
every node sharing the database sees the same results the moment a write commits.
Permissions, filters, facet counts, sorting and paging are SQL; snippets are `ts_headline`
over escaped plain text, so only our `<mark>` tags are markup.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased
from whoosh.support.levenshtein import levenshtein

from bids.access import visibility_clause
from bids.database import db, vacuum_analyze
from bids.models import Attachment, Bid, Organisation
from search_index.facets import FACET_LIMIT, FacetValue
from search_index.filters import (
    BANDS,
    FACET_FIELDS,
    PageRequest,
    SearchFilters,
    SearchLimits,
    band_label,
    window_message,
)
from search_index.index import Drift
from search_index.pg_query import (
    TS_CONFIG,
    VECTOR,
    VECTOR_COLUMN,
    json_list_condition,
    json_values,
    parse,
    year_expression,
)
from search_index.ranking import RESCORE_WINDOW, rescore, title_begins, title_factor
from search_index.schema import stamp
from search_index.service import Hit, Results
from search_index.snippets import SNIPPET_CHARS, SPELLED_WORD, corrected_query

# ts_rank_cd weights for D, C, B, A (attachments/names, body, summary, title).
RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"
RANK_NORMALISATION = 1  # divide by 1 + log(document length): long texts do not win by size
HEADLINE_OPTIONS = (
    "StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=30, "
    'MinWords=12, FragmentDelimiter=" … "'
)
_NOT_MARK = re.compile(r"<(?!/?mark>)")
SPELLING_TITLES = 30  # titles most like an unknown word, whose words are its candidates
REBUILD_BATCH = 500


def amount_expression():
    """What search filters, sorts and bands on: awarded when known, else requested."""
    return func.coalesce(Bid.amount_awarded_minor, Bid.amount_requested_minor)


def _band_condition(selected) -> Any:
    amount = amount_expression()
    options = []
    for key, low, high in BANDS:
        if key in selected:
            hit = amount >= low * 100
            options.append(hit if high is None else and_(hit, amount < high * 100))
    return or_(*options) if options else false()


def facet_condition(name: str, selected: list) -> Any:
    """The bids one facet's selected values admit (OR within the facet)."""
    if name == "band":
        return _band_condition(selected)
    if name == "year":
        return year_expression().in_([int(v) for v in selected])
    if name == "status":
        return Bid.status.in_([str(v) for v in selected])
    if name in ("theme", "location"):
        column = "themes" if name == "theme" else "locations"
        return json_list_condition(column, [str(v).strip() for v in selected], lower=False)
    wanted = [str(v).lower() for v in selected]  # funder: names, case-insensitively
    return Bid.funder_id.in_(
        select(Organisation.id).where(func.lower(Organisation.name).in_(wanted))
    )


def _safe_markup(headline: str | None) -> Markup | None:
    if not headline or "<mark>" not in headline:
        return None
    # The input was escaped before ts_headline saw it: any "<" left is one of our marks.
    return Markup(_NOT_MARK.sub("&lt;", headline))


def _rank(rank_tsquery: str):
    """A bid's relevance: ts_rank_cd with our weights, over the query's ranking form."""
    return func.ts_rank_cd(
        literal_column(f"'{RANK_WEIGHTS}'::real[]"),
        VECTOR,
        func.to_tsquery(TS_CONFIG, bindparam("rank_q", rank_tsquery)),
        RANK_NORMALISATION,
    )


def _count_part(name: str, value, source, *where, group: bool = True):
    """(facet, value, n) rows: the bids of `source` that pass `where`, counted by `value`."""
    stmt = (
        select(
            literal(name).label("facet"),
            cast(value, String).label("value"),
            func.count().label("n"),
        )
        .select_from(source)
        .where(*where)
    )
    return stmt.group_by(value) if group else stmt


def _ranked_part(m, admitted: list, ranking: str):
    """One ("hits", JSON, 0) row: the page by rank (rank, then id) as [id, rank] pairs, from
    `:hits_offset` for `:hits_limit`.

    With the title boost (`ranking` "title", or "phrase" when the title words also form a
    phrase; search_index.ranking) it is the first `:hits_limit` (RESCORE_WINDOW, or more to
    reach the page) as [id, rank, title, holds every title word, holds them in order], the
    two flags matched against those rows' vectors only, for `_ranked_hits` to reorder."""
    first = select(m.c.id, m.c.rank).where(*admitted).order_by(m.c.rank.desc(), m.c.id)
    if ranking == "plain":
        first = first.offset(bindparam("hits_offset", type_=Integer))
    top = first.limit(bindparam("hits_limit", type_=Integer)).subquery("top")
    items: list[Any] = [top.c.id, top.c.rank]
    source: Any = top
    if ranking != "plain":
        source = top.join(Bid, Bid.id == top.c.id)
        items.append(Bid.title)
        for name in ("title_q", "phrase_q"):
            if name == "phrase_q" and ranking != "phrase":
                items.append(false())
            else:
                query = func.to_tsquery(TS_CONFIG, bindparam(name, type_=String))
                items.append(VECTOR.op("@@")(query))
    listed = func.json_agg(
        aggregate_order_by(func.json_build_array(*items), top.c.rank.desc(), top.c.id)
    )
    return select(
        literal("hits").label("facet"),
        cast(listed, String).label("value"),
        literal(0).label("n"),
    ).select_from(source)


def _ranking(parsed) -> str:
    """How a page by relevance is ranked: by rank alone, or with the title boost."""
    if not parsed.title_tsquery:
        return "plain"
    return "phrase" if parsed.title_phrase_tsquery else "title"


def _ranking_params(parsed, start: int, size: int) -> dict[str, Any]:
    if not parsed.title_tsquery:
        return {"hits_offset": start, "hits_limit": size}
    return {
        "hits_limit": max(RESCORE_WINDOW, start + size),
        "title_q": parsed.title_tsquery,
        "phrase_q": parsed.title_phrase_tsquery,
    }


def _ranked_hits(rows: list, parsed, start: int, size: int) -> list[Hit]:
    """The page from `_ranked_part`'s rows (reordered by the title boost when it applies)."""
    if not parsed.title_tsquery:
        return [Hit(int(row[0]), score=float(row[1])) for row in rows]
    factors = {
        int(bid_id): title_factor(True, bool(ordered), title_begins(title, parsed.title_words))
        for bid_id, _, title, every, ordered in rows[:RESCORE_WINDOW]
        if every
    }
    scored = rescore([(int(row[0]), float(row[1])) for row in rows], factors)
    return [Hit(bid_id, score=score) for bid_id, score in scored[start : start + size]]


@functools.cache
def _match_columns(facets: bool) -> dict[str, Any]:
    """The columns of the matches `m` by name, besides the selected facets' flags and rank."""
    columns: dict[str, Any] = {"id": Bid.id}
    if facets:
        columns.update(
            status=Bid.status,
            funder_id=Bid.funder_id,
            themes=Bid.themes,
            locations=Bid.locations,
            amount=amount_expression(),
            year=year_expression(),
        )
    return columns


@functools.cache
def _over_matches(facets: bool, selected: tuple[str, ...], ranking: str | None):
    """What is counted and ranked over the matches `m` (the CTE each search adds): the total,
    the facets (`facets`; `selected` are those with a flag column) and the page by relevance
    (`ranking`, see `_ranked_part`). Built once per shape: a search only builds its `m`."""
    types = {name: expr.type for name, expr in _match_columns(facets).items()}
    types.update({f"f_{name}": Boolean() for name in selected})
    if ranking:
        types["rank"] = Float()
    m = table("m", *[column(name, type_) for name, type_ in types.items()])
    admitted = [m.c[f"f_{name}"].is_(True) for name in selected]
    parts = [_count_part("total", literal(""), m, *admitted, group=False)]
    if facets:
        parts += _facet_parts(m, selected)
    if ranking:
        parts.append(_ranked_part(m, admitted, ranking))
    return union_all(*parts)


def _facet_parts(m, selected: tuple[str, ...]) -> list:
    """Each facet's (facet, value, n) rows over the matches `m`."""

    def others(name):
        return [m.c[f"f_{o}"].is_(True) for o in selected if o != name]

    band_key = case(
        *[((m.c.amount < high * 100), key) for key, _, high in BANDS if high is not None],
        else_=BANDS[-1][0],
    )
    parts = [
        _count_part("status", m.c.status, m, *others("status")),
        _funder_counts(m, others("funder")),
        _count_part("year", m.c.year, m, m.c.year.is_not(None), *others("year")),
        _count_part("band", band_key, m, m.c.amount >= 0, *others("band")),
    ]
    for name, column_ in (("theme", m.c.themes), ("location", m.c.locations)):
        values = json_values(column_)
        value = func.btrim(values.c.value)
        # Rows with no values skip the set-returning function (22 ms over 42k empty lists).
        listed = case(
            (func.json_typeof(column_) == "array", func.json_array_length(column_)), else_=0
        )
        parts.append(
            _count_part(
                name,
                value,
                m.join(values, literal_column("true")),
                listed > 0,
                value != "",
                *others(name),
            )
        )
    return parts


def _funder_counts(m, where: list):
    """The funder facet: counted by funder id over the matches, then the few counted
    funders' names joined (not every match joined to its funder's name, then grouped)."""
    funder = aliased(Organisation)
    by_id = (
        select(m.c.funder_id.label("funder_id"), func.count().label("n"))
        .where(m.c.funder_id.is_not(None), *where)
        .group_by(m.c.funder_id)
        .subquery("by_funder")
    )
    return select(
        literal("funder").label("facet"),
        cast(funder.name, String).label("value"),
        by_id.c.n.label("n"),
    ).select_from(by_id.join(funder, funder.id == by_id.c.funder_id))


@dataclass
class _Matched:
    total: int = 0
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)


class PgSearchService:
    """The search service on PostgreSQL full-text search (see `SearchService` for the interface).

    Of the limits, the result window applies as on Whoosh. A trailing wildcard needs no cap
    here: `nano:*` is one range scan of the GIN index's sorted lexemes, not one term query
    per expansion, so its cost does not grow with the number of words it reaches."""

    def __init__(self, limits: SearchLimits):
        self.max_window = limits.max_window

    # --- conditions ----------------------------------------------------------------------

    @staticmethod
    def _base_condition(user: Any, filters: SearchFilters, query_condition) -> list:
        conditions = [visibility_clause(user)]
        amount = amount_expression()
        if filters.min_amount is not None:
            conditions.append(amount >= filters.min_amount)
        if filters.max_amount is not None:
            conditions.append(amount <= filters.max_amount)
        if filters.organisation_ids is not None:
            conditions.append(Bid.organisation_id.in_(sorted(filters.organisation_ids)))
        if filters.bid_ids is not None:
            conditions.append(Bid.id.in_(sorted(filters.bid_ids)))
        if query_condition is not None:
            conditions.append(query_condition)
        return conditions

    # --- searching -----------------------------------------------------------------------

    def search(
        self,
        user: Any,
        q: str = "",
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        *,
        snippets: bool = True,
        facets: bool = True,
        windowed: bool = True,
    ) -> Results:
        """One page of results; `windowed=False` (exports) pages past the result window."""
        filters = filters or SearchFilters()
        asked = PageRequest.of(sort, page, per_page, self.max_window, windowed)
        sort, page, per_page, window = asked.sort, asked.page, asked.per_page, asked.window
        parsed = parse(q)
        if parsed.condition is None and sort == "relevance":
            sort = "newest"
        base = self._base_condition(user, filters, parsed.condition)
        facet_conditions = {
            name: facet_condition(name, sel) for name, sel in filters.active().items()
        }
        final = base + list(facet_conditions.values())
        session = db.session
        start, size = asked.start, asked.size
        ranked = sort == "relevance" and bool(parsed.rank_tsquery)
        # Past the window the page is refused (or past the last result): no hits to find.
        in_window = window is None or start < window
        matched = self._matches(
            session,
            base,
            facet_conditions,
            filters,
            facets=facets,
            ranked=(parsed, start, size) if ranked and in_window else None,
        )
        total = matched.total
        exceeded = asked.refused(total)
        messages = [parsed.message] if parsed.message else []
        if exceeded and window is not None:
            hits: list[Hit] = []
            messages.append(window_message(window, total))
        elif ranked:
            hits = matched.hits
        else:
            hits = self._page(session, sort, final, start, size) if start < total else []
        results = Results(
            hits,
            total,
            page,
            per_page,
            sort,
            parsed.text,
            fell_back=parsed.fell_back,
            message=" ".join(messages) or None,
            facets=matched.facets,
            window=window,
            window_exceeded=exceeded,
        )
        if snippets and hits and parsed.rank_tsquery:
            self._snippets(session, parsed.rank_tsquery, hits)
        if total < 3 and parsed.condition is not None and parsed.text:
            results.corrected_query = self._spelling(session, user, parsed.text)
        return results

    @staticmethod
    def _spelling(session, user: Any, text_: str) -> str | None:
        """The 'did you mean' (search_index.snippets.corrected_query) from the titles `user`
        may read: a word no readable bid holds is replaced by the nearest word (at most two
        edits, same first letter, the most common on a tie) of the titles most like it, found
        by the trigram index on titles (migration 0011)."""
        visible = visibility_clause(user)

        def known(word: str) -> bool:
            query = func.plainto_tsquery(TS_CONFIG, bindparam("word", word))
            found = session.scalar(
                select(
                    or_(
                        func.numnode(query) == 0,  # a stop word: nothing to look for
                        exists(select(Bid.id).where(visible, VECTOR.op("@@")(query))),
                    )
                )
            )
            return bool(found)

        def suggest(word: str) -> str | None:
            title = func.lower(Bid.title)
            session.execute(
                select(func.set_config("pg_trgm.word_similarity_threshold", "0.3", True))
            )
            titles = session.scalars(
                select(title)
                .where(visible, literal(word).op("<%")(title))
                .order_by(func.word_similarity(word, title).desc(), Bid.id)
                .limit(SPELLING_TITLES)
            ).all()
            counts: dict[str, int] = {}
            for found in titles:
                for candidate in set(SPELLED_WORD.findall(found)):
                    counts[candidate] = counts.get(candidate, 0) + 1
            near = [
                (levenshtein(word, candidate, limit=3), -n, candidate)
                for candidate, n in counts.items()
                if candidate != word and candidate[:1] == word[:1]
            ]
            near = [item for item in near if item[0] <= 2]
            return min(near)[2] if near else None

        return corrected_query(text_, known, suggest)

    def iter_bid_ids(
        self,
        user: Any,
        q: str = "",
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        chunk: int = 1000,
    ) -> Iterator[int]:
        """Every result in order (for exports), a chunk at a time."""
        for page in itertools.count(1):
            results = self.search(
                user, q, filters, sort, page, chunk, snippets=False, facets=False, windowed=False
            )
            yield from results.bid_ids
            if page >= results.pages:
                return

    @staticmethod
    def _page(session, sort, conditions, start, per_page) -> list[Hit]:
        """A page in date or amount order (the indexes of migration 0011 hold both orders)."""
        key = (
            func.coalesce(Bid.published_at, Bid.created_at)
            if sort != "amount"
            else (amount_expression())
        )
        rows = session.scalars(
            select(Bid.id)
            .where(*conditions)
            .order_by(key.desc().nulls_last(), Bid.id)
            .offset(start)
            .limit(per_page)
        )
        return [Hit(int(bid_id)) for bid_id in rows]

    # --- the matches: total, facets and the ranked page in one statement ------------------

    def _matches(self, session, base, facet_conditions, filters, *, facets, ranked) -> _Matched:
        """The total, every facet's counts (`facets`) and the page by relevance (`ranked`:
        the parsed query, the first result and the page size), in one statement.

        The bids the query and filters admit are found once (a CTE `m`, with a flag per
        selected facet and, when ranked, each one's rank), then counted and ranked by
        `_over_matches`: each facet among those its *other* facets' flags admit, the total
        and the page among those all flags admit."""
        parsed = ranked[0] if ranked else None
        columns = [expr.label(name) for name, expr in _match_columns(facets).items()]
        columns += [cond.label(f"f_{name}") for name, cond in facet_conditions.items()]
        if parsed is not None:
            columns.append(_rank(parsed.rank_tsquery).label("rank"))
        m = select(*columns).where(*base).cte("m")
        statement = _over_matches(
            facets, tuple(facet_conditions), _ranking(parsed) if parsed is not None else None
        )
        params = _ranking_params(*ranked) if ranked else {}
        counts: dict[str, list[tuple[str, int]]] = {name: [] for name in FACET_FIELDS}
        matched = _Matched()
        for facet, value, n in session.execute(statement.add_cte(m), params):
            if facet == "total":
                matched.total = int(n)
            elif facet == "hits":
                matched.hits = _ranked_hits(json.loads(value) if value else [], *ranked)
            else:
                counts[facet].append((value, int(n)))
        if facets:
            merged: dict[str, int] = {}  # two funders may share a name: one value, as Whoosh
            for funder_name, n in counts["funder"]:
                merged[funder_name] = merged.get(funder_name, 0) + n
            counts["funder"] = list(merged.items())
            matched.facets = {
                name: self._facet_values(
                    name, counts[name], {str(v) for v in getattr(filters, name)}
                )
                for name in FACET_FIELDS
            }
        return matched

    @staticmethod
    def _facet_values(name: str, counted, selected: set[str]) -> list[FacetValue]:
        if name == "band":
            found = dict(counted)
            return [
                FacetValue(key, found.get(key, 0), band_label(key), key in selected)
                for key, _, _ in BANDS
                if found.get(key) or key in selected
            ]
        items = [
            FacetValue(
                value, n, value.capitalize() if name == "status" else value, value in selected
            )
            for value, n in counted
        ]
        if name == "year":
            items.sort(key=lambda f: -int(f.value))
        else:
            items.sort(key=lambda f: (-f.count, f.value.lower()))
        chosen = [f for f in items if f.selected]
        top = items[:FACET_LIMIT]
        return top + [f for f in chosen if f not in top]

    # --- snippets ------------------------------------------------------------------------

    @staticmethod
    def _snippets(session, rank_tsquery: str, hits: list[Hit]) -> None:
        """Each hit's snippet (`_snippet_statement`)."""
        rows = session.execute(
            _snippet_statement(), {"ids": [hit.bid_id for hit in hits], "snippet_q": rank_tsquery}
        )
        snippets = {bid_id: _safe_markup(b) or _safe_markup(s) for bid_id, b, s in rows}
        for hit in hits:
            hit.snippet = snippets.get(hit.bid_id)


@functools.cache
def _snippet_statement():
    """Headlines of the bids `ids` for `snippet_q`: from each body's plain text (attachments'
    too), else its summary. The text is escaped in SQL first, so the only markup ts_headline's
    output holds is its own <mark> tags. Built once: only its parameters change."""
    attached = (
        select(func.string_agg(Attachment.text, literal("\n\n")))
        .where(Attachment.bid_id == Bid.id, Attachment.text != "")
        .correlate(Bid)
        .scalar_subquery()
    )
    body = func.left(
        func.openbids_markdown_plain(Bid.body) + literal("\n\n") + func.coalesce(attached, ""),
        SNIPPET_CHARS,
    )
    query = func.to_tsquery(TS_CONFIG, bindparam("snippet_q", type_=String))

    def headline(source):
        return func.ts_headline(TS_CONFIG, _escaped(source), query, HEADLINE_OPTIONS)

    return select(Bid.id, headline(body), headline(func.left(Bid.summary, SNIPPET_CHARS))).where(
        Bid.id.in_(bindparam("ids", expanding=True))
    )


def _fresh_vector():
    """The vector the trigger would compute for the row now (search_index.pg_schema)."""
    return func.openbids_bid_vector(
        Bid.id,
        Bid.title,
        Bid.summary,
        Bid.body,
        Bid.programme,
        Bid.organisation_id,
        Bid.funder_id,
    )


def _escaped(source):
    """HTML-escaped text, in SQL (as markupsafe.escape: & < > " ')."""
    for char, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("'", "&#39;"),
    ):
        source = func.replace(source, char, entity)
    return source


class PgSearchIndex:
    """The maintenance interface of `SearchIndex` for the vectors the database keeps itself."""

    kept_by_database = True  # written with each row: a bulk import needs no rebuild

    def tidy(self) -> bool:
        """Nothing to merge: PostgreSQL keeps its own indexes."""
        return False

    def exists(self) -> bool:
        return True

    def apply(self, session: Session, upserts: list[int], deletes: list[int]) -> None:
        """Nothing to do: triggers updated the vectors in the writing transaction."""

    def doc_count(self) -> int:
        return int(db.session.scalar(select(func.count(Bid.id)).where(VECTOR.is_not(None))) or 0)

    def stored(self) -> dict[int, str]:
        """bid id -> updated stamp for every bid with a search vector."""
        return {
            int(i): stamp(u)
            for i, u in db.session.execute(
                select(Bid.id, Bid.updated_at).where(VECTOR.is_not(None))
            )
        }

    def rebuild(
        self, session: Session, *, progress: Callable[[int], None] | None = None, **_: Any
    ) -> int:
        """Recompute every vector, a batch at a time, and write those that differ; when any were,
        vacuum the table (they left dead versions) and refresh its statistics."""
        count, last_id, written = 0, 0, 0
        while True:
            ids = list(
                session.scalars(
                    select(Bid.id).where(Bid.id > last_id).order_by(Bid.id).limit(REBUILD_BATCH)
                )
            )
            if not ids:
                break
            last_id = ids[-1]
            # Only the rows whose vector differs are written (set to NULL, the trigger computes
            # it): rewriting the rest would leave a dead copy of each beside it, the table
            # twice its size for every scan until a VACUUM FULL.
            stale = list(
                session.scalars(
                    select(Bid.id).where(Bid.id.in_(ids), VECTOR.is_distinct_from(_fresh_vector()))
                )
            )
            if stale:
                session.execute(
                    text(f"UPDATE bid SET {VECTOR_COLUMN} = NULL WHERE id = ANY(:ids)"),
                    {"ids": stale},
                )
                written += len(stale)
            session.commit()
            count += len(ids)
            if progress:
                progress(len(ids))
        if written:
            vacuum_analyze(db.engine, Bid.__tablename__)
        return count

    def check(self, session: Session) -> Drift:
        """Bids without a vector (missing) or whose vector differs from a fresh one (stale)."""
        missing = sorted(session.scalars(select(Bid.id).where(VECTOR.is_(None))))
        stale = sorted(
            session.scalars(
                select(Bid.id).where(VECTOR.is_not(None), VECTOR.is_distinct_from(_fresh_vector()))
            )
        )
        session.rollback()
        return Drift(missing=missing, stale=stale, extra=[])

    def close(self) -> None:
        pass
