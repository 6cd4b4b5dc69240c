"""Figures about a set of published bids: totals, outcomes by year, success rates, amounts.

Plain SQL aggregates that run the same on SQLite and PostgreSQL. Money is grouped by
currency and never summed across currencies. A success rate is awarded / decided
(awarded + declined) and is left out (None) below `min_decided` decided bids, with the
counts it would rest on always given. Amounts in the output are in currency units.

`bid_ids=None` means every public bid; a set of ids (e.g. a search's matches) is passed to
each query as one parameter (`_among`).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Select, any_, bindparam, case, extract, func, select

from bids.database import db
from bids.models import Bid, BidStatus, Organisation, Visibility, from_minor
from bids.serialize import money_number

MIN_DECIDED = 5  # config INSIGHTS_MIN_DECIDED
TOP = 12
CHUNK = 100_000  # ids per query (one parameter)
NAMES_CHUNK = 5_000  # organisations per query (bound parameters)
DECIDED = (BidStatus.AWARDED.value, BidStatus.DECLINED.value)
OUTCOMES = ("awarded", "declined", "submitted", "withdrawn", "draft")
# Log-scaled bins of amounts requested, in currency units: (label, lower, upper or None).
AMOUNT_BINS = (
    ("under 1k", 0, 1_000),
    ("1k–3k", 1_000, 3_000),
    ("3k–10k", 3_000, 10_000),
    ("10k–30k", 10_000, 30_000),
    ("30k–100k", 30_000, 100_000),
    ("100k–300k", 100_000, 300_000),
    ("300k–1m", 300_000, 1_000_000),
    ("1m–3m", 1_000_000, 3_000_000),
    ("3m and over", 3_000_000, None),
)


class Scope:
    """Bids picked by SQL conditions rather than by ids, e.g. an organisation's: `Scope(Bid.
    organisation_id == 7)` (one query each instead of one per chunk of thousands of ids)."""

    def __init__(self, *conditions):
        self.conditions = conditions


def bid_year():
    """The year of a bid in SQL: submitted, else decided (see `Bid.year`)."""
    return extract("year", func.coalesce(Bid.submitted_on, Bid.decided_on))


def _public(query: Select) -> Select:
    return query.where(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))


def _among(ids: list[int], session):
    """`Bid.id` is one of `ids`, passed as one parameter (a JSON array that SQLite's json_each
    reads, an array on PostgreSQL): a search's thousands of matches bind in microseconds,
    where as many bound parameters take tens of milliseconds a query."""
    if session.get_bind().dialect.name == "postgresql":
        return Bid.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    listed = func.json_each(bindparam("ids", json.dumps(ids))).table_valued("value")
    return Bid.id.in_(select(listed.c.value))


def _scoped(query: Select, bid_ids: Collection[int] | None | Scope, session) -> Iterator[Select]:
    """The query over public bids, once for all of them (or those a `Scope` picks), or once
    per chunk of the ids."""
    query = _public(query)
    if isinstance(bid_ids, Scope):
        yield query.where(*bid_ids.conditions)
        return
    if bid_ids is None:
        yield query
        return
    ids = sorted(bid_ids)
    for start in range(0, len(ids), CHUNK):
        yield query.where(_among(ids[start : start + CHUNK], session))


def _grouped(columns: list, bid_ids, session) -> Counter:
    """Counts of bids by the given columns, merged over chunks."""
    counts: Counter = Counter()
    grouped = select(*columns, func.count(Bid.id)).group_by(*columns)
    for query in _scoped(grouped, bid_ids, session):
        for *key, n in session.connection().execute(query):
            counts[tuple(key)] += n
    return counts


def _amount(minor: int | None) -> int | float | None:
    return money_number(from_minor(minor))


def success(awarded: int, decided: int, min_decided: int) -> float | None:
    """Awarded / decided as a fraction, or None when too few bids were decided to say."""
    if decided < max(1, min_decided):
        return None
    return round(awarded / decided, 4)


def quartiles(values: list[int]) -> dict[str, Any] | None:
    """Median and quartiles of amounts in minor units (inclusive method), in currency units."""
    if not values:
        return None
    values = sorted(values)
    q1: float
    median: float
    q3: float
    if len(values) == 1:
        q1 = median = q3 = values[0]
    else:
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        "n": len(values),
        "q1": _amount(round(q1)),
        "median": _amount(round(median)),
        "q3": _amount(round(q3)),
    }


def _amount_band(column):
    """The AMOUNT_BINS label of an amount in minor units, in SQL."""
    whens = [(column < high * 100, label) for label, _, high in AMOUNT_BINS if high is not None]
    return case(*whens, else_=AMOUNT_BINS[-1][0])


def tag_counts(bid_ids: Collection[int] | Scope | None, session=None) -> dict[str, Counter]:
    """Bids per theme and per location (each counted once per bid)."""
    session = session or db.session
    themes: Counter = Counter()
    locations: Counter = Counter()
    for query in _scoped(select(Bid.themes, Bid.locations), bid_ids, session):
        for tags, places in session.execute(query):
            themes.update({t for t in (tags or []) if t})
            locations.update({p for p in (places or []) if p})
    return {"themes": themes, "locations": locations}


def amount_bin(minor: int) -> str:
    units = minor / 100
    for label, low, high in AMOUNT_BINS:
        if units >= low and (high is None or units < high):
            return label
    return AMOUNT_BINS[0][0]


def _names(org_ids: Collection[int | None], session) -> dict[int | None, Any]:
    """Name, slug and kind of each organisation (plain rows: thousands of ORM objects are slow)."""
    ids = sorted({i for i in org_ids if i is not None})
    out: dict[int | None, Any] = {}
    for start in range(0, len(ids), NAMES_CHUNK):
        for row in session.execute(
            select(Organisation.id, Organisation.name, Organisation.slug, Organisation.kind).where(
                Organisation.id.in_(ids[start : start + NAMES_CHUNK])
            )
        ):
            out[row.id] = row
    return out


def _org_ref(org: Any, org_id: int | None) -> dict[str, Any] | None:
    if org is None:
        return None
    return {"id": org_id, "name": org.name, "slug": org.slug, "kind": str(org.kind)}


def _rate_row(awarded: int, decided: int, total: int, min_decided: int) -> dict[str, Any]:
    return {
        "bids": total,
        "decided": decided,
        "awarded": awarded,
        "success_rate": success(awarded, decided, min_decided),
    }


def field_figures(  # noqa: C901 - one flat branch per figure asked for
    bid_ids: Collection[int] | Scope | None = None,
    *,
    min_decided: int = MIN_DECIDED,
    top: int = TOP,
    tags: dict[str, Counter] | None = None,
    session=None,
) -> dict[str, Any]:
    """Every figure the insights page and API show, for the public bids among `bid_ids`.

    `tags` ({"themes": Counter, "locations": Counter}) may come from the search index's
    value arrays, which count them without decoding 40,000 JSON lists; else they are read.
    """
    session = session or db.session
    year = bid_year()

    # One scan for the counts by year, funder, programme and outcome, the money by currency
    # and the bands of amounts requested; the applicants and the awards are two more.
    band = _amount_band(Bid.amount_requested_minor)
    awarded_amount = case((Bid.status == BidStatus.AWARDED.value, Bid.amount_awarded_minor))
    keys = [year, Bid.funder_id, Bid.programme, Bid.status, Bid.currency, band]
    by_year: dict[str, Counter] = defaultdict(Counter)
    undated: Counter[str] = Counter()
    funder_status: Counter = Counter()
    programme_status: Counter = Counter()
    money: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    requested: dict[str, Counter] = defaultdict(Counter)
    for query in _scoped(
        select(
            *keys,
            func.count(Bid.id),
            func.sum(Bid.amount_requested_minor),
            func.count(Bid.amount_requested_minor),
            func.sum(awarded_amount),
            func.count(awarded_amount),
        ).group_by(*keys),
        bid_ids,
        session,
    ):
        for (
            y,
            funder_id,
            programme,
            status,
            currency,
            label,
            n,
            req_sum,
            req_n,
            awd_sum,
            awd_n,
        ) in session.connection().execute(query):
            if y is None:
                undated[status] += n
            else:
                by_year[str(int(y))][status] += n
            funder_status[(funder_id, status)] += n
            programme_status[(funder_id, programme, status)] += n
            m = money[currency or "GBP"]
            m["bids"] += n
            m["requested_minor"] += int(req_sum or 0)
            m["requested_count"] += req_n
            m["awarded_minor"] += int(awd_sum or 0)
            m["awarded_count"] += awd_n
            if req_n:  # bids without an amount fall in no band
                requested[currency or "GBP"][label] += req_n
    org_counts = _grouped([Bid.organisation_id], bid_ids, session)

    awards: dict[tuple[int | None, str], list[int]] = defaultdict(list)
    for query in _scoped(
        select(Bid.funder_id, Bid.currency, Bid.amount_awarded_minor).where(
            Bid.status == BidStatus.AWARDED.value, Bid.amount_awarded_minor.is_not(None)
        ),
        bid_ids,
        session,
    ):
        for funder_id, currency, awd in session.connection().execute(query):
            awards[(funder_id, currency or "GBP")].append(awd)

    if tags is None:
        tags = tag_counts(bid_ids, session)
    themes, locations = tags["themes"], tags["locations"]

    funder_totals: dict[int | None, Counter] = defaultdict(Counter)
    for (funder_id, status), n in funder_status.items():
        funder_totals[funder_id][status] += n
    top_orgs = sorted(org_counts.items(), key=lambda kv: (-kv[1], kv[0][0]))[: top * 2]
    orgs = _names({*(k[0] for k, _ in top_orgs), *funder_totals}, session)

    def rate(counts: Counter) -> dict[str, Any]:
        awarded = counts[BidStatus.AWARDED.value]
        decided = awarded + counts[BidStatus.DECLINED.value]
        return _rate_row(awarded, decided, sum(counts.values()), min_decided)

    funders = []
    for funder_id, counts in funder_totals.items():
        if funder_id is None or funder_id not in orgs:
            continue
        row = {"funder": _org_ref(orgs.get(funder_id), funder_id), **rate(counts)}
        row["typical_award"] = {
            currency: quartiles(values)
            for (fid, currency), values in sorted(awards.items(), key=lambda kv: kv[0][1])
            if fid == funder_id
        }
        funders.append(row)
    funders.sort(key=lambda r: (-r["bids"], r["funder"]["name"].lower()))

    programme_totals: dict[tuple[int | None, str], Counter] = defaultdict(Counter)
    for (funder_id, programme, status), n in programme_status.items():
        if programme:
            programme_totals[(funder_id, programme)][status] += n
    programmes: list[dict[str, Any]] = [
        {"programme": programme, "funder": _org_ref(orgs.get(fid), fid), **rate(counts)}
        for (fid, programme), counts in programme_totals.items()
    ]
    programmes.sort(key=lambda r: (-r["bids"], r["programme"].lower()))

    years = [
        {
            "year": y,
            "outcomes": {s: by_year[y][s] for s in OUTCOMES if by_year[y][s]},
            **rate(by_year[y]),
        }
        for y in sorted(by_year)
    ]

    org_rows: list[dict[str, Any]] = [
        {"organisation": _org_ref(orgs.get(k[0]), k[0]), "bids": n}
        for k, n in top_orgs
        if orgs.get(k[0]) is not None
    ]
    organisations = sorted(org_rows, key=lambda r: (-r["bids"], r["organisation"]["name"].lower()))

    currencies = {
        currency: {
            "bids": m["bids"],
            "requested_total": _amount(m["requested_minor"]) if m["requested_count"] else None,
            "requested_count": m["requested_count"],
            "awarded_total": _amount(m["awarded_minor"]) if m["awarded_count"] else None,
            "awarded_count": m["awarded_count"],
        }
        for currency, m in sorted(money.items())
    }

    total_bids = sum(n for n in org_counts.values())
    all_status: Counter[str] = Counter()
    for counts in funder_totals.values():
        all_status.update(counts)
    return {
        "totals": {
            "bids": total_bids,
            "organisations": len(org_counts),
            "funders": len([f for f in funder_totals if f is not None]),
            **rate(all_status),
            "currencies": currencies,
        },
        "min_decided": min_decided,
        "years": years,
        "undated": {
            "bids": sum(undated.values()),
            "outcomes": {s: undated[s] for s in OUTCOMES if undated[s]},
        },
        "funders": funders[: max(top, 1) * 4],
        "programmes": programmes[: max(top, 1) * 2],
        "organisations": organisations[:top],
        "themes": [{"name": k, "bids": v} for k, v in _top(themes, top)],
        "locations": [{"name": k, "bids": v} for k, v in _top(locations, 200)],
        "amounts_requested": {
            currency: [{"bin": label, "bids": counts[label]} for label, _, _ in AMOUNT_BINS]
            for currency, counts in sorted(requested.items())
        },
    }


def _top(counter: Counter, limit: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0].lower()))[:limit]


def organisation_bid_ids(org_id: int, session=None) -> set[int]:
    """The public bids an organisation sent."""
    session = session or db.session
    return set(session.scalars(_public(select(Bid.id).where(Bid.organisation_id == org_id))))


def funder_bid_ids(funder_id: int, session=None) -> set[int]:
    """The public bids sent to a funder."""
    session = session or db.session
    return set(session.scalars(_public(select(Bid.id).where(Bid.funder_id == funder_id))))


def co_funders_by_applicants(
    funder_id: int, limit: int = TOP, session=None
) -> list[dict[str, Any]]:
    """Other funders the same applicants also went to, most shared applicants first."""
    from sqlalchemy.orm import aliased

    session = session or db.session
    # Its applicants once each (a semi-join): a self-join on the applicant pairs every bid
    # with each of that applicant's other bids (hundreds for a large SBIR firm).
    applicants = _public(select(Bid.organisation_id).where(Bid.funder_id == funder_id))
    there = aliased(Bid)
    rows = session.execute(
        select(there.funder_id, func.count(func.distinct(there.organisation_id)))
        .where(
            there.organisation_id.in_(applicants),
            there.funder_id.is_not(None),
            there.funder_id != funder_id,
            there.visibility == Visibility.PUBLISHED,
            there.hidden_at.is_(None),
        )
        .group_by(there.funder_id)
    ).all()
    orgs = _names([r[0] for r in rows], session)
    out = [
        {"funder": _org_ref(orgs.get(fid), fid), "shared_applicants": n}
        for fid, n in rows
        if orgs.get(fid) is not None
    ]
    out.sort(key=lambda r: (-r["shared_applicants"], r["funder"]["name"].lower()))
    return out[:limit]
