"""A pool's co-funding opportunities: overlap clusters, bids sent to several members, big bids.

Each opportunity carries a score out of 100 and the parts that make it up, so a
member can see why it ranks where it does. Filters (theme, place, status) apply
to every list; amounts are never added across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from bids.access import publicly_visible
from bids.database import db
from bids.models import Bid, BidLink, BidStatus, LinkKind, from_minor
from bids.pools.facts import clusterable_facts
from bids.pools.models import DuplicatePair, OverlapCluster, OverlapClusterMember, Pool, Programme

PAGE = 25
OPEN_STATUSES = {BidStatus.SUBMITTED}


@dataclass(frozen=True)
class Filters:
    theme: str = ""
    place: str = ""
    status: str = ""

    @classmethod
    def from_args(cls, args) -> Filters:
        return cls(*(str(args.get(k) or "").strip()[:80] for k in ("theme", "place", "status")))

    def accepts(self, themes, locations, statuses) -> bool:
        return (
            (not self.theme or self.theme.casefold() in {t.casefold() for t in themes})
            and (not self.place or self.place.casefold() in {p.casefold() for p in locations})
            and (not self.status or self.status in statuses)
        )


@dataclass
class ScorePart:
    label: str
    points: float
    out_of: int
    why: str


@dataclass
class Opportunity:
    kind: str  # cluster, several, too_big
    key: str
    title: str
    reason: str
    bids: list[Bid]
    parts: list[ScorePart]
    requested_minor: dict[str, int]
    cluster_id: int | None = None
    key_terms: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(p.points for p in self.parts), 1)

    def requested_text(self) -> str:
        return (
            " + ".join(f"{c} {from_minor(v):,.0f}" for c, v in sorted(self.requested_minor.items()))
            or "not stated"
        )


def _fit(pool: Pool, themes, locations, out_of: int) -> ScorePart:
    pool_themes = {t.casefold() for t in pool.themes}
    pool_places = {g.casefold() for g in pool.geographies}
    theme_hit = sorted({t for t in themes if t.casefold() in pool_themes})
    place_hit = sorted({p for p in locations if p.casefold() in pool_places})
    share = (0.5 if (theme_hit or not pool_themes) else 0) + (
        0.5 if (place_hit or not pool_places) else 0
    )
    why = "; ".join(
        filter(
            None,
            [
                f"themes {', '.join(theme_hit)}"
                if theme_hit
                else ("pool has no themes" if not pool_themes else "no shared theme"),
                f"places {', '.join(place_hit)}"
                if place_hit
                else ("pool has no places" if not pool_places else "no shared place"),
            ],
        )
    )
    return ScorePart("Fit with the pool", round(out_of * share, 1), out_of, why)


def _matches_pool(pool: Pool, themes, locations) -> bool:
    pool_themes = {t.casefold() for t in pool.themes}
    pool_places = {g.casefold() for g in pool.geographies}
    theme_ok = not pool_themes or any(t.casefold() in pool_themes for t in themes)
    place_ok = not pool_places or any(p.casefold() in pool_places for p in locations)
    return theme_ok and place_ok


def _requested(bids: list[Bid]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for bid in bids:
        if bid.amount_requested_minor:
            out[bid.currency] += bid.amount_requested_minor
    return dict(out)


def _load_bids(ids) -> dict[int, Bid]:
    ids = list(ids)
    if not ids:
        return {}
    return {
        b.id: b
        for b in db.session.scalars(
            select(Bid)
            .where(Bid.id.in_(ids))
            .options(selectinload(Bid.organisation), selectinload(Bid.funder))
        )
    }


@dataclass(frozen=True)
class _ClusterFacts:
    id: int
    top: float
    org_count: int
    funder_ids: frozenset[int]
    themes: tuple[str, ...]
    locations: tuple[str, ...]
    statuses: tuple[str, ...]


_cluster_cache: dict[str, tuple[tuple, list[_ClusterFacts]]] = {}


def _cluster_facts() -> list[_ClusterFacts]:
    """Every cluster's scoring facts, decoded once per refresh rather than once per request.

    Decoding the JSON columns of ~3,000 clusters took most of the dashboard's time (measured
    at 42k bids); the stamp (count, newest computed_at, id sum) changes whenever a refresh
    creates, changes or removes a cluster.
    """
    stamp = tuple(
        db.session.execute(
            select(
                func.count(OverlapCluster.id),
                func.max(OverlapCluster.computed_at),
                func.sum(OverlapCluster.id),
            )
        ).one()
    )
    where = str(db.session.get_bind().url)  # type: ignore[union-attr]  # bound to an Engine
    cached = _cluster_cache.get(where)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    facts = [
        _ClusterFacts(
            cid,
            top,
            org_count,
            frozenset(funder_ids or ()),
            tuple(themes or ()),
            tuple(locations or ()),
            tuple(statuses or ()),
        )
        for cid, top, org_count, funder_ids, themes, locations, statuses in db.session.execute(
            select(
                OverlapCluster.id,
                OverlapCluster.top_score,
                OverlapCluster.organisation_count,
                OverlapCluster.funder_ids,
                OverlapCluster.themes,
                OverlapCluster.locations,
                OverlapCluster.statuses,
            )
        )
    ]
    _cluster_cache[where] = (stamp, facts)
    return facts


def _cluster_parts(pool: Pool, members: set[int], c: _ClusterFacts) -> list[ScorePart]:
    ours = members & c.funder_ids
    return [
        ScorePart(
            "Overlap strength",
            round(40 * min(c.top, 1.0), 1),
            40,
            f"strongest text match {c.top:.2f}",
        ),
        ScorePart(
            "Organisations",
            round(20 * min(c.org_count - 1, 4) / 4, 1),
            20,
            f"{c.org_count} organisations could work together",
        ),
        ScorePart(
            "Pool members applied to",
            round(25 * len(ours) / max(len(members), 1), 1),
            25,
            f"{len(ours)} of {len(members)} members",
        ),
        _fit(pool, c.themes, c.locations, 15),
    ]


def overlap_clusters(
    pool: Pool, filters: Filters = Filters(), limit: int | None = PAGE
) -> list[Opportunity]:
    """Clusters involving a member's funding or matching the pool's themes and places."""
    members = set(pool.member_org_ids())
    pool_themes = {t.casefold() for t in pool.themes}
    pool_places = {g.casefold() for g in pool.geographies}
    ranked: list[tuple[float, int, _ClusterFacts]] = []
    for c in _cluster_facts():
        ours = members & c.funder_ids
        if not ours and not (pool.themes or pool.geographies):
            continue
        if not ours and not _matches_pool(pool, c.themes, c.locations):
            continue
        if not filters.accepts(c.themes, c.locations, c.statuses):
            continue
        # The parts' points, as `_cluster_parts` rounds them, without building them for every row.
        fit = (
            0.5 if not pool_themes or any(t.casefold() in pool_themes for t in c.themes) else 0
        ) + (0.5 if not pool_places or any(p.casefold() in pool_places for p in c.locations) else 0)
        points = (
            round(40 * min(c.top, 1.0), 1)
            + round(20 * min(c.org_count - 1, 4) / 4, 1)
            + round(25 * len(ours) / max(len(members), 1), 1)
            + round(15 * fit, 1)
        )
        ranked.append((round(points, 1), c.id, c))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    if limit is not None:
        ranked = ranked[:limit]
    scored = [(points, c.id, _cluster_parts(pool, members, c)) for points, _, c in ranked]
    clusters = {
        c.id: c
        for c in db.session.scalars(
            select(OverlapCluster).where(OverlapCluster.id.in_([cid for _, cid, _ in scored]))
        )
    }
    member_ids: dict[int, list[int]] = defaultdict(list)
    for cid, bid_id in db.session.execute(
        select(OverlapClusterMember.cluster_id, OverlapClusterMember.bid_id)
        .where(OverlapClusterMember.cluster_id.in_(list(clusters)))
        .order_by(OverlapClusterMember.bid_id)
    ):
        member_ids[cid].append(bid_id)
    bids = _load_bids(i for ids in member_ids.values() for i in ids)
    out = []
    for _, cid, parts in scored:
        cluster = clusters[cid]
        members_bids = [bids[i] for i in member_ids[cid] if i in bids]
        out.append(
            Opportunity(
                "cluster",
                f"cluster-{cid}",
                f"Overlap cluster {cid}: " + ", ".join(cluster.key_terms[:3]),
                cluster.reason,
                members_bids,
                parts,
                dict(cluster.requested_minor),
                cluster_id=cid,
                key_terms=list(cluster.key_terms),
            )
        )
    return out


def _groups(pairs: list[tuple[int, int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for node in list(parent):
        groups[find(node)].append(node)
    return [sorted(g) for g in groups.values()]


def sent_to_several(
    pool: Pool, filters: Filters = Filters(), limit: int | None = PAGE
) -> list[Opportunity]:
    """One project sent to two or more pool members: by lineage or near-identical text."""
    members = list(pool.member_org_ids())
    # Joins, not IN (subquery): SQLite re-plans those badly at corpus scale (seconds, measured).
    first, second = aliased(Bid), aliased(Bid)

    def both_to_members(query, first_id, second_id):
        return (
            query.join(first, first.id == first_id)
            .join(second, second.id == second_id)
            .where(first.funder_id.in_(members), second.funder_id.in_(members))
        )

    pairs = [
        (a, b)
        for a, b in db.session.execute(
            both_to_members(
                select(BidLink.from_bid_id, BidLink.to_bid_id).where(
                    BidLink.kind == LinkKind.ALSO_SENT_TO
                ),
                BidLink.from_bid_id,
                BidLink.to_bid_id,
            )
        )
    ]
    evidence = {tuple(sorted(p)): "lineage recorded by the applicant" for p in pairs}
    for a, b, score in db.session.execute(
        both_to_members(
            select(DuplicatePair.first_bid_id, DuplicatePair.second_bid_id, DuplicatePair.score),
            DuplicatePair.first_bid_id,
            DuplicatePair.second_bid_id,
        )
    ):
        pairs.append((a, b))
        evidence.setdefault((a, b), f"near-identical text (match {score:.2f})")
    groups = _groups(pairs)
    visible = clusterable_facts({i for g in groups for i in g})
    bids = _load_bids(visible)
    out = []
    for group in groups:
        group_bids = [bids[i] for i in group if i in bids]
        funders = {b.funder_id for b in group_bids if b.funder_id in members}
        if len(funders) < 2:
            continue
        themes = {t for b in group_bids for t in b.themes}
        places = {p for b in group_bids for p in b.locations}
        if not filters.accepts(themes, places, {b.status for b in group_bids}):
            continue
        still_open = [b for b in group_bids if b.status in OPEN_STATUSES]
        why = sorted({evidence[p] for p in evidence if p[0] in group and p[1] in group})
        parts = [
            ScorePart(
                "Pool members applied to",
                30 + (20 if len(funders) > 2 else 0),
                50,
                f"{len(funders)} members received it",
            ),
            ScorePart(
                "Still undecided",
                30 if still_open else 0,
                30,
                f"{len(still_open)} of {len(group_bids)} applications await a decision",
            ),
            _fit(pool, themes, places, 20),
        ]
        names = sorted({b.funder.name for b in group_bids if b.funder_id in funders})  # type: ignore[union-attr]  # nullable column the query already filters
        out.append(
            Opportunity(
                "several",
                "several-" + "-".join(map(str, group)),
                group_bids[0].title,
                f"Sent to {' and '.join(names)} ({'; '.join(why)}).",
                group_bids,
                parts,
                _requested(group_bids[:1]),
            )
        )
    out.sort(key=lambda o: (-o.score, o.key))
    return out[:limit] if limit is not None else out


def typical_awards(funder_ids) -> dict[int, list[Programme]]:
    out: dict[int, list[Programme]] = defaultdict(list)
    for programme in db.session.scalars(
        select(Programme).where(
            Programme.funder_id.in_(list(funder_ids)),
            Programme.typical_award_max_minor.is_not(None),
        )
    ):
        out[programme.funder_id].append(programme)
    return out


def _typical_for(bid: Bid, programmes: list[Programme]) -> Programme | None:
    same_currency = [p for p in programmes if p.currency == bid.currency]
    named = [
        p for p in same_currency if bid.programme and p.name.casefold() == bid.programme.casefold()
    ]
    if named:
        return named[0]
    return max(same_currency, key=lambda p: p.typical_award_max_minor, default=None)  # type: ignore[arg-type, return-value]  # nullable column the query already filters


def too_big(
    pool: Pool, filters: Filters = Filters(), limit: int | None = PAGE
) -> list[Opportunity]:
    """Undecided bids to members that match the pool and ask more than the member typically
    gives."""
    members = pool.member_org_ids()
    programmes = typical_awards(members)
    if not programmes:
        return []
    candidates = db.session.scalars(
        select(Bid)
        .where(
            Bid.funder_id.in_(list(programmes)),
            Bid.status.in_(list(OPEN_STATUSES)),
            publicly_visible(),
            Bid.amount_requested_minor.is_not(None),
        )
        .options(selectinload(Bid.organisation), selectinload(Bid.funder))
    )
    out = []
    for bid in candidates:
        if not _matches_pool(pool, bid.themes, bid.locations):
            continue
        if not filters.accepts(bid.themes, bid.locations, {bid.status}):
            continue
        programme = _typical_for(bid, programmes[bid.funder_id])  # type: ignore[index]  # nullable column the query already filters
        if programme is None or bid.amount_requested_minor <= programme.typical_award_max_minor:  # type: ignore[operator]  # nullable column the query already filters
            continue
        ratio = bid.amount_requested_minor / programme.typical_award_max_minor  # type: ignore[operator]  # nullable column the query already filters
        parts = [
            ScorePart(
                "Gap beyond a typical award",
                round(50 * min(ratio - 1, 1), 1),
                50,
                f"asks {ratio:.1f}× the {programme.name} typical maximum of "
                f"{programme.currency} {programme.typical_award_max:,.0f}",
            ),
            _fit(pool, bid.themes, bid.locations, 30),
            ScorePart("Still undecided", 20, 20, "awaiting a decision"),
        ]
        out.append(
            Opportunity(
                "too_big",
                f"bid-{bid.id}",
                bid.title,
                f"Asks {bid.currency} {bid.amount_requested:,.0f} of {bid.funder.name}, whose "  # type: ignore[union-attr]  # nullable column the query already filters
                f"{programme.name} typically gives up to {programme.currency} "
                f"{programme.typical_award_max:,.0f}.",
                [bid],
                parts,
                _requested([bid]),
            )
        )
    out.sort(key=lambda o: (-o.score, o.key))
    return out[:limit] if limit is not None else out


def all_opportunities(
    pool: Pool, filters: Filters = Filters(), limit: int | None = PAGE
) -> dict[str, list[Opportunity]]:
    return {
        "clusters": overlap_clusters(pool, filters, limit),
        "several": sent_to_several(pool, filters, limit),
        "too_big": too_big(pool, filters, limit),
    }


def filter_choices(pool: Pool) -> dict[str, list[str]]:
    """Themes and places offered as filters: the pool's own, then common ones among clusters."""
    return {
        "theme": sorted(set(pool.themes)),
        "place": sorted(set(pool.geographies)),
        "status": [s.value for s in BidStatus if s not in (BidStatus.DRAFT, BidStatus.WITHDRAWN)],
    }


def clusters_with_bids_of(org_ids: set[int]) -> list[OverlapCluster]:
    """Overlap clusters holding a bid of one of these organisations, strongest first."""
    if not org_ids:
        return []
    with_our_bids = (
        select(OverlapClusterMember.cluster_id)
        .join(Bid, Bid.id == OverlapClusterMember.bid_id)
        .where(Bid.organisation_id.in_(org_ids))
    )
    return list(
        db.session.scalars(
            select(OverlapCluster)
            .where(OverlapCluster.id.in_(with_our_bids))
            .order_by(OverlapCluster.top_score.desc())
        )
    )
