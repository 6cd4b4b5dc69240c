"""Overlap clusters over the whole corpus, built from the similarity engine's pairs.

`build_clusters` is pure: given scored pairs of bids and a few facts about each
bid, it joins bids whose texts overlap above a threshold (union-find), keeps the
groups that span at least two organisations, and splits any group larger than
`max_size` by raising the threshold inside it (so one chain of weak links cannot
swallow the corpus). A cluster's id is its smallest bid id and its signature the
sorted member ids, so the same pairs always give the same clusters.

`refresh_clusters` persists them (tables in `bids.pools.models`), touching only
clusters that changed; `refresh_neighbourhood` redoes the clusters around one
bid after it is published or changed.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sqlalchemy import delete, false, insert, select, text, update

from bids.database import db, utcnow
from bids.pools.facts import BidFacts, bid_texts, clusterable_facts
from search_index import outbox

# On the similarity engine's scale (TF-IDF cosine, uni- and bigrams; `search_index.similarity`
# documents it on the SBIR pairs: real overlaps' 25th percentile 0.16, same-firm different
# projects' 90th percentile 0.13, unrelated pairs of two firms' 99th percentile 0.08). 0.125
# keeps most real overlaps and stays above nearly every unrelated cross-organisation pair; in
# the demo it sits in the gap between the relational-network bids (0.145 to 0.21) and the
# unrelated ones (0.106 and under). Over-long chains are split by raising it (`MAX_SIZE`).
MIN_SCORE = 0.125  # config OVERLAP_MIN_SCORE
DUPLICATE_SCORE = 0.80  # the engine's near-duplicate score (config OVERLAP_DUPLICATE_SCORE)
MAX_SIZE = 40
SPLIT_STEP = 0.05
KEY_TERMS = 6
KEY_WORD = re.compile(r"[a-z][a-z'-]{3,}")
KEY_STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | {
    "will",
    "project",
    "projects",
    "work",
    "year",
    "years",
    "people",
    "also",
    "using",
    "based",
    "provide",
    "including",
    "new",
    "develop",
    "development",
    "support",
    "help",
    "need",
}


@dataclass
class ClusterDraft:
    id: int
    member_scores: dict[int, float]
    top_score: float
    mean_score: float
    organisation_count: int
    funder_ids: list[int] = field(default_factory=list)
    requested_minor: dict[str, int] = field(default_factory=dict)
    themes: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    key_terms: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def signature(self) -> str:
        return ",".join(str(i) for i in sorted(self.member_scores))


@dataclass
class RefreshReport:
    clusters: int = 0
    created: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    duplicates: int = 0
    pairs: int = 0
    seconds: float = 0.0


def _pair(item: Any) -> tuple[int, int, float]:
    if isinstance(item, tuple | list):
        return int(item[0]), int(item[1]), float(item[2])
    return int(item.a), int(item.b), float(item.score)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent.setdefault(parent, parent)
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id becomes the root: deterministic, whatever the order of edges.
            self.parent[max(ra, rb)] = min(ra, rb)


def _components(
    edges: list[tuple[int, int, float]], threshold: float, max_size: int
) -> list[list[int]]:
    uf = _UnionFind()
    for a, b, score in edges:
        if score >= threshold:
            uf.union(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for node in list(uf.parent):
        groups[uf.find(node)].append(node)
    out: list[list[int]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        if len(members) > max_size and threshold + SPLIT_STEP <= 1.0:
            inside = set(members)
            sub = [e for e in edges if e[0] in inside and e[1] in inside]
            out.extend(_components(sub, round(threshold + SPLIT_STEP, 4), max_size))
        else:
            out.append(sorted(members))
    return out


def build_clusters(
    pairs: Iterable[Any],
    facts: dict[int, BidFacts],
    *,
    threshold: float = MIN_SCORE,
    max_size: int = MAX_SIZE,
    texts: Callable[[list[int]], dict[int, str]] | None = None,
) -> list[ClusterDraft]:
    """Clusters across organisations, sorted by id. Pairs name bids absent from `facts` at will."""
    best: dict[tuple[int, int], float] = {}
    best_item: dict[tuple[int, int], Any] = {}  # its shared terms are read only inside clusters
    for item in pairs:
        a, b, score = _pair(item)
        if a == b or score < threshold or a not in facts or b not in facts:
            continue
        key = (a, b) if a < b else (b, a)
        if score > best.get(key, -1.0):
            best[key] = score
            best_item[key] = item
    edges = sorted((a, b, s) for (a, b), s in best.items())
    groups = [
        g
        for g in _components(edges, threshold, max_size)
        if len({facts[i].organisation_id for i in g}) >= 2
    ]
    member_of = {bid_id: min(g) for g in groups for bid_id in g}
    scores: dict[int, dict[int, float]] = {min(g): dict.fromkeys(g, 0.0) for g in groups}
    # What the cluster is about and how strongly: edges between two organisations only.
    edge_scores: dict[int, list[float]] = defaultdict(list)
    edge_terms: dict[int, Counter[str]] = defaultdict(Counter)
    for a, b, s in edges:
        ca, cb = member_of.get(a), member_of.get(b)
        if ca is not None and ca == cb:
            scores[ca][a] = max(scores[ca][a], s)
            scores[ca][b] = max(scores[ca][b], s)
            if facts[a].organisation_id != facts[b].organisation_id:
                edge_scores[ca].append(s)
                for rank, term in enumerate(getattr(best_item[(a, b)], "shared_terms", None) or ()):
                    edge_terms[ca][term] += KEY_TERMS - min(rank, KEY_TERMS - 1)
    # The engine names each pair's shared distinctive terms; texts are read only without them.
    need_texts = [i for g in groups if not edge_terms[min(g)] for i in g]
    all_texts = texts(need_texts) if texts and need_texts else {}
    drafts = []
    for group in sorted(groups):
        cid = group[0]
        drafts.append(_draft(cid, scores[cid], edge_scores[cid], facts, all_texts, edge_terms[cid]))
    return drafts


def _draft(
    cid: int,
    member_scores: dict[int, float],
    edge_scores: list[float],
    facts: dict[int, BidFacts],
    texts: dict[int, str],
    terms: Counter[str] | None = None,
) -> ClusterDraft:
    members = [facts[i] for i in sorted(member_scores)]
    requested: dict[str, int] = {}
    for f in members:
        if f.amount_minor is not None:
            requested[f.currency] = requested.get(f.currency, 0) + f.amount_minor
    orgs = {f.organisation_id for f in members}
    draft = ClusterDraft(
        id=cid,
        member_scores={k: round(v, 4) for k, v in member_scores.items()},
        top_score=round(max(edge_scores), 4),
        mean_score=round(sum(edge_scores) / len(edge_scores), 4),
        organisation_count=len(orgs),
        funder_ids=sorted({f.funder_id for f in members if f.funder_id is not None}),
        requested_minor=dict(sorted(requested.items())),
        themes=_common_tags([f.themes for f in members]),
        locations=_common_tags([f.locations for f in members]),
        statuses=sorted({f.status for f in members}),
        key_terms=(
            [t for t, _ in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))][:KEY_TERMS]
            if terms
            else words_shared_by_organisations({i: texts.get(i, "") for i in member_scores}, facts)
        ),
    )
    shared = ", ".join(f"“{t}”" for t in draft.key_terms[:3])
    draft.reason = (
        f"{len(members)} bids from {len(orgs)} organisations"
        + (f" share {shared}" if shared else " overlap")
        + f" (strongest match {draft.top_score:.2f})."
    )[:500]
    return draft


def _common_tags(tag_lists: list[tuple[str, ...]]) -> list[str]:
    """Every tag of any member, most shared first (ties alphabetical)."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for tags in tag_lists:
        for tag in {t.casefold(): t for t in tags}.items():
            counts[tag[0]] += 1
            spelling.setdefault(tag[0], tag[1])
    return [spelling[k] for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:20]


def words_shared_by_organisations(
    texts: dict[int, str], facts: dict[int, BidFacts], limit: int = KEY_TERMS
) -> list[str]:
    """Words used by bids of at least two of the organisations, most widely shared first."""
    orgs_using: dict[str, set[int]] = defaultdict(set)
    uses: Counter[str] = Counter()
    for bid_id, body in texts.items():
        words = {w.strip("'-") for w in KEY_WORD.findall((body or "").lower())} - KEY_STOP_WORDS
        for word in words:
            orgs_using[word].add(facts[bid_id].organisation_id)
            uses[word] += 1
    ranked = sorted(
        (w for w, orgs in orgs_using.items() if len(orgs) >= 2 and len(w) > 3),
        key=lambda w: (-len(orgs_using[w]), -uses[w], w),
    )
    return ranked[:limit]


def near_duplicates(
    pairs: Iterable[Any], facts: dict[int, BidFacts], threshold: float = DUPLICATE_SCORE
) -> list[tuple[int, int, float]]:
    """Pairs of one organisation's bids, to different funders, with near-identical texts.

    Near-identical: the engine labelled the pair so (most of their passages are shared),
    or it scores at least `threshold`.
    """
    out: dict[tuple[int, int], float] = {}
    for item in pairs:
        a, b, score = _pair(item)
        fa, fb = facts.get(a), facts.get(b)
        duplicate = score >= threshold or getattr(item, "relation", None) == "near_duplicate"
        if (
            not duplicate
            or fa is None
            or fb is None
            or a == b
            or fa.organisation_id != fb.organisation_id
            or fa.funder_id == fb.funder_id
        ):
            continue
        key = (min(a, b), max(a, b))
        out[key] = max(out.get(key, 0.0), round(score, 4))
    return sorted((a, b, s) for (a, b), s in out.items())


# --- persistence -----------------------------------------------------------------------


def _settings() -> tuple[float, float]:
    from flask import current_app

    return (
        float(current_app.config.get("OVERLAP_MIN_SCORE", MIN_SCORE)),
        float(current_app.config.get("OVERLAP_DUPLICATE_SCORE", DUPLICATE_SCORE)),
    )


CLUSTERS_LOCK = 0x6F62_636C  # PostgreSQL advisory lock key ("obcl")


def lock_clusters(session=None) -> None:
    """Make this transaction the only writer of clusters until it ends (commit or rollback).

    Taken before anything is read, so two refreshes around neighbouring bids never both
    decide to create the same cluster. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: a write that changes nothing, which takes the database's write lock.
    """
    from bids.pools.models import OverlapCluster

    session = session or db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLUSTERS_LOCK})
    else:
        session.execute(update(OverlapCluster).where(false()).values(id=OverlapCluster.id))


def refresh_clusters(
    pairs: Iterable[Any] | None = None, *, progress: Callable[[str], None] | None = None
) -> RefreshReport:
    """Recompute every cluster and the near-duplicate pairs; flushes (the caller commits)."""
    from bids.pools.models import DuplicatePair, OverlapCluster

    started = time.perf_counter()
    threshold, duplicate = _settings()
    note = progress or (lambda _step: None)
    note("pairs")
    pairs = list(available_pairs(min(threshold, duplicate)) if pairs is None else pairs)
    note("bids")
    lock_clusters()
    facts = clusterable_facts()
    note("clusters")
    drafts = build_clusters(pairs, facts, threshold=threshold, texts=bid_texts)
    note("save")
    report = _save(drafts, set(db.session.scalars(select(OverlapCluster.id))))
    dups = near_duplicates(pairs, facts, duplicate)
    db.session.execute(delete(DuplicatePair))
    db.session.add_all(DuplicatePair(first_bid_id=a, second_bid_id=b, score=s) for a, b, s in dups)
    db.session.flush()
    report.duplicates = len(dups)
    report.pairs = len(pairs)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _save(drafts: list[ClusterDraft], replace_ids: set[int], session=None) -> RefreshReport:
    """Write `drafts`, deleting clusters in `replace_ids` that no draft keeps; unchanged rows
    stay."""
    from bids.pools.models import OverlapCluster, OverlapClusterMember

    session = session or db.session
    report = RefreshReport(clusters=len(drafts))
    existing = (
        {
            c.id: c
            for c in session.scalars(
                select(OverlapCluster).where(
                    OverlapCluster.id.in_(list(replace_ids | {d.id for d in drafts}))
                )
            )
        }
        if (replace_ids or drafts)
        else {}
    )
    keep = {d.id for d in drafts}
    gone = [cid for cid in replace_ids if cid not in keep]
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        session.execute(
            delete(OverlapClusterMember).where(OverlapClusterMember.cluster_id.in_(chunk))
        )
        session.execute(delete(OverlapCluster).where(OverlapCluster.id.in_(chunk)))
    report.removed = len(gone)
    now = utcnow()
    rows: list[dict] = []
    for draft in drafts:
        values = dict(
            signature=draft.signature,
            size=len(draft.member_scores),
            organisation_count=draft.organisation_count,
            top_score=draft.top_score,
            mean_score=draft.mean_score,
            funder_ids=draft.funder_ids,
            requested_minor=draft.requested_minor,
            themes=draft.themes,
            locations=draft.locations,
            statuses=draft.statuses,
            key_terms=draft.key_terms,
            reason=draft.reason,
        )
        cluster = existing.get(draft.id)
        if cluster is not None and all(getattr(cluster, k) == v for k, v in values.items()):
            report.unchanged += 1
            continue
        if cluster is None:
            cluster = OverlapCluster(id=draft.id, computed_at=now, **values)
            session.add(cluster)
            report.created += 1
        else:
            session.execute(
                delete(OverlapClusterMember).where(OverlapClusterMember.cluster_id == draft.id)
            )
            session.expire(cluster, ["members"])
            for key, value in values.items():
                setattr(cluster, key, value)
            cluster.computed_at = now
            report.changed += 1
        rows.extend(
            {"cluster_id": draft.id, "bid_id": bid_id, "score": score}
            for bid_id, score in sorted(draft.member_scores.items())
        )
    session.flush()
    if rows:
        session.execute(insert(OverlapClusterMember), rows)
    return report


def refresh_neighbourhood(
    bid_id: int, neighbours: Callable[[int], Iterable[Any]] | None = None, session=None
) -> RefreshReport:
    """Redo the clusters around one bid: its neighbours and the clusters any of them were in.

    `neighbours(bid_id)` gives the scored pairs of one bid (default: the similarity
    engine's, `EnginePairs`, which asks for the members of the clusters reached in one
    batch). Exact for the bids it reaches; the full refresh
    (`flask --app portal overlaps refresh`) catches anything further away. Flushes only,
    holding the clusters' write lock (`lock_clusters`) until the caller commits.
    """
    session = session or db.session
    threshold, _ = _settings()
    lock_clusters(session)
    if neighbours is None:
        neighbours = engine_pairs(threshold)
    pairs, reached, old_clusters = _neighbourhood(bid_id, neighbours, session, threshold)
    facts = clusterable_facts(reached, session)
    drafts = build_clusters(
        pairs, facts, threshold=threshold, texts=lambda ids: bid_texts(ids, session)
    )
    return _save(drafts, old_clusters, session)


def _neighbourhood(
    bid_id: int, neighbours: Callable[[int], Iterable[Any]], session, threshold: float
) -> tuple[list[Any], set[int], set[int]]:
    """What a refresh around `bid_id` reads: the pairs among the bids it reaches (its
    neighbours, and every member of the clusters any of them is in), those bids, and those
    clusters."""
    from bids.pools.models import OverlapClusterMember

    # The engine's pairs themselves, not just their scores: they name their shared terms,
    # which make the clusters' key terms (as in the full refresh).
    first = list(neighbours(bid_id))
    reached = {bid_id} | {x for a, b, s in map(_pair, first) if s >= threshold for x in (a, b)}
    old_clusters = set(
        session.scalars(
            select(OverlapClusterMember.cluster_id).where(OverlapClusterMember.bid_id.in_(reached))
        )
    )
    if old_clusters:
        reached |= set(
            session.scalars(
                select(OverlapClusterMember.bid_id).where(
                    OverlapClusterMember.cluster_id.in_(old_clusters)
                )
            )
        )
    pairs = list(first)
    for found in _ask(neighbours, sorted(reached - {bid_id})).values():
        pairs.extend(found)
    pairs = [p for p in pairs if {_pair(p)[0], _pair(p)[1]} <= reached]
    return pairs, reached, old_clusters


class EnginePairs:
    """The similarity engine's pairs, each bid asked once: the changed bids of one batch often
    share a neighbourhood, and the store does not change while its followers run. `many` asks
    for the bids not asked yet in one batch (`pairs_for_many`): the members of the clusters a
    change reaches, which on PostgreSQL were one query each (~0.1 s at 42k)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.found: dict[int, list[Any]] = {}

    def __call__(self, one: int) -> list[Any]:
        return self.many([one])[one]

    def many(self, bid_ids: list[int]) -> dict[int, list[Any]]:
        from search_index import similarity

        missing = sorted(set(bid_ids) - self.found.keys())
        if len(missing) == 1:
            self.found[missing[0]] = list(
                similarity.pairs_for(missing[0], min_score=self.threshold)
            )
        elif missing:
            self.found.update(similarity.pairs_for_many(missing, min_score=self.threshold))
        return {i: self.found[i] for i in bid_ids}


def engine_pairs(threshold: float) -> EnginePairs:
    """The similarity engine's `pairs_for`, each bid asked once (`EnginePairs`)."""
    return EnginePairs(threshold)


def _ask(neighbours: Callable[[int], Iterable[Any]], bid_ids: list[int]) -> dict[int, list[Any]]:
    """Each bid's pairs: in one batch from `EnginePairs`, else one bid at a time."""
    if isinstance(neighbours, EnginePairs):
        return neighbours.many(bid_ids)
    return {i: list(neighbours(i)) for i in bid_ids}


# More changed bids at once (an import) wait for the full refresh (the outbox's own rule).
NEIGHBOURHOOD_BATCH = outbox.FOLLOW_UP_MAX


def follow_similarity_changes(session, upserts: list[int], deletes: list[int]) -> None:
    """After the similarity store applied changed bids, redo the clusters around each of them.

    Runs after every commit that published, changed or withdrew a bid (the "similar"
    outbox rows); a bulk import's large batches are left to `overlaps refresh`.
    """
    from flask import current_app

    changed = sorted(set(upserts) | set(deletes))
    if (
        not changed
        or len(changed) > NEIGHBOURHOOD_BATCH
        or not current_app.config.get("OVERLAP_AUTO_REFRESH", True)
    ):
        return
    threshold = _settings()[0]
    neighbours = engine_pairs(threshold)
    # The pairs first, holding no lock (`neighbours` keeps them): on SQLite the clusters'
    # lock is the database's write lock, and every web write waited while they were found.
    found_on = _store_state()
    for bid_id in changed:
        _neighbourhood(bid_id, neighbours, session, threshold)
    session.rollback()  # only reads so far: the locked refresh starts afresh
    lock_clusters(session)
    if _store_state() != found_on:
        # Another process changed the similarity store meanwhile (its follow-up may have
        # redone these clusters already): the pairs again, under the lock, as they are now.
        neighbours = engine_pairs(threshold)
    for bid_id in changed:
        refresh_neighbourhood(bid_id, neighbours=neighbours, session=session)
    session.commit()


def _store_state() -> tuple[Any, Any] | None:
    """What moves with every change of the similarity store (its generation and delta)."""
    from search_index import similarity

    manifest = similarity.get_store().manifest()
    return None if manifest is None else (manifest.get("base"), manifest.get("delta"))


def available_pairs(min_score: float) -> list[Any]:
    """The similarity engine's scored pairs over every published, visible bid."""
    from search_index import similarity

    return list(similarity.overlap_pairs(min_score))
