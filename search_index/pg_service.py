"""Search on PostgreSQL: the same interface and results as the Whoosh service, answered in SQL.

The database keeps each bid's weighted `tsvector` itself (`search_index.pg_schema`), so
every node sharing the database sees the same results the moment a write commits.
Permissions, filters, facet counts, sorting and paging are SQL; snippets are `ts_headline`
over escaped plain text, so only our `<mark>` tags are markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from bids.access import visibility_clause
from bids.database import db
from bids.markdown_render import markdown_to_text
from bids.models import Attachment, Bid, Organisation
from search_index.facets import FACET_LIMIT, FacetValue
from search_index.filters import BANDS, FACET_FIELDS, SORTS, SearchFilters, band_label
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
from search_index.schema import stamp
from search_index.service import Hit, Results
from search_index.snippets import SNIPPET_CHARS

# ts_rank_cd weights for D, C, B, A (attachments/names, body, summary, title).
RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"
RANK_NORMALISATION = 1  # divide by 1 + log(document length): long texts do not win by size
HEADLINE_OPTIONS = ('StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=30, '
                    'MinWords=12, FragmentDelimiter=" … "')
_NOT_MARK = re.compile(r"<(?!/?mark>)")
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


class PgSearchService:
    """The search service on PostgreSQL full-text search (see `SearchService` for the interface)."""

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
    ) -> Results:
        filters = filters or SearchFilters()
        sort = sort if sort in SORTS else "relevance"
        page, per_page = max(1, int(page)), max(1, min(int(per_page), 1000))
        parsed = parse(q)
        if parsed.condition is None and sort == "relevance":
            sort = "newest"
        base = self._base_condition(user, filters, parsed.condition)
        facet_conditions = {
            name: facet_condition(name, sel) for name, sel in filters.active().items()
        }
        final = base + list(facet_conditions.values())
        session = db.session
        total = session.scalar(select(func.count(Bid.id)).where(*final)) or 0
        start = (page - 1) * per_page
        hits = (
            self._page(session, parsed.rank_tsquery, sort, final, start, per_page)
            if start < total else []
        )
        results = Results(hits, int(total), page, per_page, sort, parsed.text,
                          fell_back=parsed.fell_back, message=parsed.message)
        if facets:
            results.facets = self._facets(session, base, facet_conditions, filters)
        if snippets and hits and parsed.rank_tsquery:
            self._snippets(session, parsed.rank_tsquery, hits)
        return results

    def iter_bid_ids(
        self,
        user: Any,
        q: str = "",
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        chunk: int = 1000,
    ) -> Iterator[int]:
        """Every result in order (for exports), a chunk at a time."""
        first = self.search(user, q, filters, sort, 1, chunk, snippets=False, facets=False)
        yield from first.bid_ids
        for page in range(2, first.pages + 1):
            yield from self.search(
                user, q, filters, sort, page, chunk, snippets=False, facets=False
            ).bid_ids

    def _page(self, session, rank_tsquery, sort, conditions, start, per_page) -> list[Hit]:
        if sort == "relevance" and rank_tsquery:
            rank = func.ts_rank_cd(
                literal_column(f"'{RANK_WEIGHTS}'::real[]"), VECTOR,
                func.to_tsquery(TS_CONFIG, bindparam("rank_q", rank_tsquery)),
                RANK_NORMALISATION,
            )
            rows = session.execute(
                select(Bid.id, rank.label("rank")).where(*conditions)
                .order_by(literal_column("rank").desc(), Bid.id).offset(start).limit(per_page)
            )
            return [Hit(int(bid_id), score=float(score)) for bid_id, score in rows]
        key = func.coalesce(Bid.published_at, Bid.created_at) if sort != "amount" else (
            amount_expression())
        rows = session.scalars(
            select(Bid.id).where(*conditions)
            .order_by(key.desc().nulls_last(), Bid.id).offset(start).limit(per_page)
        )
        return [Hit(int(bid_id)) for bid_id in rows]

    # --- facets --------------------------------------------------------------------------

    def _facets(self, session, base, facet_conditions, filters) -> dict[str, list[FacetValue]]:
        out: dict[str, list[FacetValue]] = {}
        for name in FACET_FIELDS:
            # A facet's own choice does not hide its alternatives.
            conditions = base + [c for other, c in facet_conditions.items() if other != name]
            selected = {str(v) for v in getattr(filters, name)}
            out[name] = self._count(session, name, conditions, selected)
        return out

    @staticmethod
    def _count(session, name: str, conditions, selected: set[str]) -> list[FacetValue]:
        if name == "band":
            amount = amount_expression()
            columns = []
            for _key, low, high in BANDS:
                hit = amount >= low * 100
                hit = hit if high is None else and_(hit, amount < high * 100)
                columns.append(func.count(Bid.id).filter(hit))
            row = session.execute(select(*columns).where(*conditions)).one()
            return [
                FacetValue(key, int(count), band_label(key), key in selected)
                for (key, _, _), count in zip(BANDS, row, strict=True)
                if count or key in selected
            ]
        if name == "year":
            year = year_expression()
            rows = session.execute(
                select(year, func.count(Bid.id)).where(*conditions, year.is_not(None))
                .group_by(year)
            )
            items = [FacetValue(str(y), int(c), str(y), str(y) in selected) for y, c in rows]
            items.sort(key=lambda f: -int(f.value))
        else:
            if name in ("theme", "location"):
                values = json_values("themes" if name == "theme" else "locations")
                value = func.btrim(values.c.value)
                stmt = (select(value, func.count()).select_from(Bid).join(values, literal_column(
                    "true")).where(*conditions, value != "").group_by(value))
            elif name == "status":
                stmt = select(Bid.status, func.count(Bid.id)).where(*conditions).group_by(
                    Bid.status)
            else:
                funder = aliased(Organisation)
                stmt = (select(funder.name, func.count(Bid.id))
                        .join(funder, funder.id == Bid.funder_id)
                        .where(*conditions).group_by(funder.name))
            items = [
                FacetValue(str(v), int(c), str(v).capitalize() if name == "status" else str(v),
                           str(v) in selected)
                for v, c in session.execute(stmt)
            ]
            items.sort(key=lambda f: (-f.count, f.value.lower()))
        chosen = [f for f in items if f.selected]
        top = items[:FACET_LIMIT]
        return top + [f for f in chosen if f not in top]

    # --- snippets ------------------------------------------------------------------------

    @staticmethod
    def _snippets(session, rank_tsquery: str, hits: list[Hit]) -> None:
        """Each hit's snippet from its body's plain text (attachments' too), else its summary."""
        ids = [hit.bid_id for hit in hits]
        texts = {
            bid_id: [summary or "", markdown_to_text(body or "")]
            for bid_id, summary, body in session.execute(
                select(Bid.id, Bid.summary, Bid.body).where(Bid.id.in_(ids)))
        }
        for bid_id, attached in session.execute(
            select(Attachment.bid_id, Attachment.text).where(Attachment.bid_id.in_(ids))
            .order_by(Attachment.id)
        ):
            if attached and bid_id in texts and len(texts[bid_id][1]) < SNIPPET_CHARS:
                texts[bid_id][1] += "\n\n" + attached
        order: list[tuple[int, int]] = []  # (hit, which text)
        inputs: list[str] = []
        for n, hit in enumerate(hits):
            summary, body = texts.get(hit.bid_id, ("", ""))
            for which, source in enumerate((body, summary)):
                if source:
                    order.append((n, which))
                    inputs.append(str(escape(source[:SNIPPET_CHARS])))
        if not inputs:
            return
        unnested = func.unnest(bindparam("texts", inputs, type_=ARRAY(db.String))).table_valued(
            "t", with_ordinality="n").render_derived(name="u")
        rows = session.execute(
            select(unnested.c.n, func.ts_headline(
                TS_CONFIG, unnested.c.t, func.to_tsquery(TS_CONFIG, rank_tsquery),
                HEADLINE_OPTIONS)).order_by(unnested.c.n)
        ).all()
        for (n, _which), (_, headline) in zip(order, rows, strict=True):
            hit = hits[n]
            if hit.snippet is None:
                hit.snippet = _safe_markup(headline)


class PgSearchIndex:
    """The maintenance interface of `SearchIndex` for the vectors the database keeps itself."""

    def exists(self) -> bool:
        return True

    def apply(self, session: Session, upserts: list[int], deletes: list[int]) -> None:
        """Nothing to do: triggers updated the vectors in the writing transaction."""

    def doc_count(self) -> int:
        return int(db.session.scalar(
            select(func.count(Bid.id)).where(VECTOR.is_not(None))) or 0)

    def stored(self) -> dict[int, str]:
        """bid id -> updated stamp for every bid with a search vector."""
        return {int(i): stamp(u) for i, u in db.session.execute(
            select(Bid.id, Bid.updated_at).where(VECTOR.is_not(None)))}

    def rebuild(self, session: Session, *, progress: Callable[[int], None] | None = None,
                **_: Any) -> int:
        """Recompute every vector (the trigger does when the column is set), a batch at a time."""
        count, last_id = 0, 0
        while True:
            ids = list(session.scalars(
                select(Bid.id).where(Bid.id > last_id).order_by(Bid.id).limit(REBUILD_BATCH)))
            if not ids:
                break
            last_id = ids[-1]
            session.execute(text(f"UPDATE bid SET {VECTOR_COLUMN} = NULL WHERE id = ANY(:ids)"),
                            {"ids": ids})
            session.commit()
            count += len(ids)
            if progress:
                progress(len(ids))
        return count

    def check(self, session: Session) -> Drift:
        """Bids without a vector (missing) or whose vector differs from a fresh one (stale)."""
        missing = sorted(session.scalars(select(Bid.id).where(VECTOR.is_(None))))
        stale = sorted(session.scalars(select(Bid.id).where(
            VECTOR.is_not(None),
            VECTOR.is_distinct_from(func.openbids_bid_vector(
                Bid.id, Bid.title, Bid.summary, Bid.body, Bid.programme, Bid.organisation_id,
                Bid.funder_id)),
        )))
        session.rollback()
        return Drift(missing=missing, stale=stale, extra=[])

    def close(self) -> None:
        pass
