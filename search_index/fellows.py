"""Fellow travellers (organisations whose bids overlap an organisation's) and the funders
that overlapping bids went to, from the matcher's pairs held by the network map."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from bids.database import db
from bids.models import Bid, Organisation

MIN_OVERLAP = 0.125  # as the clusters and the network map
LIMIT = 10


def _overlaps(bid_ids: list[int], min_score: float) -> list[tuple[int, int, float]]:
    """(this bid, other bid, score) for the matcher's pairs of the map (read once per map)."""
    from search_index.network import field_map

    by_bid = field_map().pairs_by_bid()
    return [
        (bid_id, other, score)
        for bid_id in bid_ids
        for other, score in by_bid.get(bid_id, ())
        if score >= min_score
    ]


def _shared_terms(a: int, b: int) -> list[str]:
    """Key words the two bids (of two organisations) share, most used first."""
    from search_index.clusters import BidFacts, bid_texts
    from search_index.clusters import words_shared_by_organisations as shared_terms

    facts = {a: BidFacts(a, 1), b: BidFacts(b, 2)}  # two sides: words both use
    return shared_terms(bid_texts([a, b]), facts, limit=6)


def _public_facts(ids: set[int]) -> dict[int, tuple[int, int | None]]:
    """Applicant and funder of each public bid among `ids` (as the network map read them)."""
    from search_index.network import field_map

    bids = field_map().bids
    return {b: (bids[b].organisation_id, bids[b].funder_id) for b in ids if b in bids}


def _orgs(ids) -> dict[int, Organisation]:
    ids = sorted(i for i in set(ids) if i is not None)
    return (
        {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}
        if ids
        else {}
    )


def fellow_travellers(
    org_id: int, bid_ids: list[int], *, min_score: float = MIN_OVERLAP, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Other organisations whose public bids overlap these bids, strongest overlap first.

    Each has the summed score, the number of overlapping pairs, the strongest pair (for
    a side-by-side comparison) and that pair's shared key terms.
    """
    found = _overlaps(bid_ids, min_score)
    facts = _public_facts({other for _, other, _ in found})
    by_org: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"score": 0.0, "pairs": 0, "best": None}
    )
    for mine, other, score in found:
        if other not in facts or facts[other][0] == org_id:
            continue
        entry = by_org[facts[other][0]]
        entry["score"] += score
        entry["pairs"] += 1
        if entry["best"] is None or score > entry["best"][2]:
            entry["best"] = (mine, other, score)
    ranked = sorted(by_org.items(), key=lambda kv: (-kv[1]["score"], kv[0]))[:limit]
    orgs = _orgs(k for k, _ in ranked)
    out = []
    for other_org, entry in ranked:
        if other_org not in orgs:
            continue
        mine, other, score = entry["best"]
        org = orgs[other_org]
        out.append(
            {
                "organisation": {
                    "id": org.id,
                    "name": org.name,
                    "slug": org.slug,
                    "kind": org.kind,
                },
                "overlap": round(entry["score"], 4),
                "pairs": entry["pairs"],
                "best_pair": {"bid_id": mine, "other_bid_id": other, "score": round(score, 4)},
                "shared_terms": _shared_terms(mine, other),
            }
        )
    out.sort(key=lambda r: (-r["overlap"], r["organisation"]["name"].lower()))
    return out


def overlapping_funders(
    funder_id: int, bid_ids: list[int], *, min_score: float = MIN_OVERLAP, limit: int = LIMIT
) -> dict[int, int]:
    """Other funders that bids overlapping this funder's bids went to: funder id -> pairs."""
    found = _overlaps(bid_ids, min_score)
    facts = _public_facts({other for _, other, _ in found})
    counts: dict[int, int] = defaultdict(int)
    for _, other, _ in found:
        fact = facts.get(other)
        their_funder = fact[1] if fact is not None else None
        if their_funder is not None and their_funder != funder_id:
            counts[their_funder] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def organisation_profile(org: Organisation, *, min_decided: int) -> dict[str, Any]:
    """An organisation's figures as applicant and, if it received bids, as funder; its fellow
    travellers; its co-funders (by shared applicants and by overlapping bids); its community."""
    from bids.insights import (
        Scope,
        co_funders_by_applicants,
        field_figures,
        funder_bid_ids,
        organisation_bid_ids,
    )
    from search_index.filters import SearchFilters as Filters
    from search_index.network import field_map
    from search_index.selection import matching_bids

    sent = organisation_bid_ids(org.id)
    received = funder_bid_ids(org.id)

    def figures(ids, scope, filters):
        if not ids:
            return None
        return field_figures(scope, min_decided=min_decided, tags=matching_bids("", filters)[1])

    profile: dict[str, Any] = {
        "organisation": {"id": org.id, "name": org.name, "slug": org.slug, "kind": org.kind},
        "sent": figures(
            sent, Scope(Bid.organisation_id == org.id), Filters(organisation_ids={org.id})
        ),
        "received": figures(received, Scope(Bid.funder_id == org.id), Filters(funder=[org.name])),
        "fellow_travellers": fellow_travellers(org.id, list(sent)) if sent else [],
        "co_funders": [],
        "community": None,
    }
    if received:
        by_applicants = {row["funder"]["id"]: row for row in co_funders_by_applicants(org.id)}
        by_overlap = overlapping_funders(org.id, list(received))
        orgs = _orgs(set(by_applicants) | set(by_overlap))
        rows = []
        for fid in set(by_applicants) | set(by_overlap):
            if fid not in orgs:
                continue
            o = orgs[fid]
            rows.append(
                {
                    "funder": {"id": o.id, "name": o.name, "slug": o.slug, "kind": o.kind},
                    "shared_applicants": by_applicants.get(fid, {}).get("shared_applicants", 0),
                    "overlapping_pairs": by_overlap.get(fid, 0),
                }
            )
        rows.sort(
            key=lambda r: (
                -(r["shared_applicants"] + r["overlapping_pairs"]),
                r["funder"]["name"].lower(),
            )
        )
        profile["co_funders"] = rows[:LIMIT]
    fmap = field_map()
    cid = fmap.community_of.get(org.id)
    if cid is not None:
        community = next(c for c in fmap.communities if c.id == cid)
        graph = fmap.graph()
        top = sorted(
            (m for m in community.members if m != org.id and m in fmap.orgs),
            key=lambda m: (-graph.degree(m, weight="weight"), m),
        )[:12]
        profile["community"] = {
            "id": cid,
            "name": community.name,
            "key_terms": community.key_terms,
            "size": len(community.members),
            "members": [
                {
                    "id": m,
                    "name": fmap.orgs[m].name,
                    "slug": fmap.orgs[m].slug,
                    "kind": fmap.orgs[m].kind,
                }
                for m in top
            ],
        }
    return profile


FIT_ORGANISATIONS = 8


def draft_fit(scored, *, limit: int = FIT_ORGANISATIONS) -> dict[str, Any] | None:
    """Where a draft fits in the field, from the bids it overlaps (`(bid id, score)` pairs):
    the organisations nearest to it (their overlapping public bids' summed scores, strongest
    first) and the community it falls into (the one those scores weigh most towards, ties to
    the larger community). None when it overlaps no public bid of the map."""
    from search_index.network import field_map

    fmap = field_map()
    near: dict[int, dict[str, Any]] = defaultdict(lambda: {"score": 0.0, "bids": 0})
    funders: dict[int, float] = defaultdict(float)
    for bid_id, score in scored:
        ends = fmap.bids.get(int(bid_id))
        if ends is None or ends.organisation_id not in fmap.orgs:
            continue  # a draft or hidden bid: not part of the public map
        near[ends.organisation_id]["score"] += float(score)
        near[ends.organisation_id]["bids"] += 1
        if ends.funder_id is not None and ends.funder_id in fmap.orgs:
            funders[ends.funder_id] += float(score)
    if not near:
        return None
    community_of = fmap.community_of
    sizes = {c.id: len(c.members) for c in fmap.communities}
    weight: dict[int, float] = defaultdict(float)
    for org_id, entry in near.items():
        if org_id in community_of:
            weight[community_of[org_id]] += entry["score"]
    community = None
    if weight:
        cid = min(weight, key=lambda c: (-round(weight[c], 6), -sizes.get(c, 0), c))
        chosen = next(c for c in fmap.communities if c.id == cid)
        community = {
            "id": chosen.id,
            "name": chosen.name,
            "key_terms": chosen.key_terms,
            "size": len(chosen.members),
            "share": round(weight[cid] / sum(weight.values()), 4),
        }

    def org(org_id: int) -> dict[str, Any]:
        info = fmap.orgs[org_id]
        return {"id": info.id, "name": info.name, "slug": info.slug, "kind": info.kind}

    ranked = sorted(near.items(), key=lambda kv: (-kv[1]["score"], fmap.orgs[kv[0]].name.lower()))
    return {
        "community": community,
        "organisations": [
            {
                "organisation": org(org_id),
                "overlap": round(entry["score"], 4),
                "bids": entry["bids"],
                "community": community_of.get(org_id),
            }
            for org_id, entry in ranked[:limit]
        ],
        "funders": [
            {"funder": org(f), "overlap": round(s, 4)}
            for f, s in sorted(funders.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        ],
    }


def remembered_profile(org: Organisation, *, min_decided: int) -> dict[str, Any]:
    """`organisation_profile`, kept per data generation and network map in this process (the
    largest funder's takes about a second at 42k bids): a new, changed or hidden bid, a
    changed outcome or a rebuilt map is a new key."""
    from search_index.network import field_map
    from search_index.snapshots import generation, remembered

    fmap = field_map()
    key = [org.id, min_decided, generation(), fmap.watermark, fmap.built_at]
    return remembered("profile", key, lambda: organisation_profile(org, min_decided=min_decided))
