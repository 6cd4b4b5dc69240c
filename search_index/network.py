"""The network map of the field over the database: organisations linked by overlapping bids,
applications and lineage (the graph itself, its communities and views: `search_index.field_graph`).

`field_map()` is the cached whole-field map: it is rebuilt when the data watermark (bids,
organisations, links, the similarity store's generation) moves, and kept in memory and in
`INSTANCE_DIR/network.json` so a restart or another worker reads it instead of rebuilding.

The map follows the outbox as the clusters do: after the similarity store applied changed
bids (published, edited, hidden, withdrawn), `follow_similarity_changes` updates the cached
map in place (`update_field_map`: the bids' facts, their pairs and links re-read, their
organisations' names, communities kept, a newcomer joining its strongest neighbour's) and
saves it with the new watermark, so no page serves a map that ignores a moderated bid. A
larger batch (an import) marks the map stale instead; `flask --app portal network refresh`
rebuilds it (and finds the communities again) in one batch.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from sqlalchemy import func, select

from bids.database import db
from bids.models import Bid, BidLink, Organisation, Visibility
from search_index.field_graph import (
    MIN_OVERLAP,
    BidEnds,
    Community,
    OrgInfo,
    build_graph,
    find_communities,
    layout,
    name_communities,
)

FORMAT_VERSION = 1
LAYOUTS_KEPT = 128
INLINE_MAX = 5_000  # config NETWORK_INLINE_MAX
FOLLOW_BATCH = 500  # more changed bids at once (an import) mark the map stale: `network refresh`


@dataclass
class FieldMap:
    """The whole field: per-bid facts, the matcher's pairs, lineage, organisations, communities."""

    watermark: list
    built_at: str
    bids: dict[int, BidEnds]
    pairs: list[tuple[int, int, float]]
    links: list[tuple[int, int]]
    orgs: dict[int, OrgInfo]
    communities: list[Community]
    seconds: float = 0.0
    stale: bool = False  # changes arrived that the map does not show (until `network refresh`)
    _graph: nx.Graph | None = None
    _layouts: dict = field(default_factory=dict)
    _views: dict = field(default_factory=dict)
    _by_bid: dict | None = None

    def view_of(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """What a page makes of this map for one view (a community's graph, the drawn SVG),
        made once: the map is replaced when the data changes, and its views with it."""
        with _lock:
            if key in self._views:
                return self._views[key]
        value = compute()
        with _lock:
            if len(self._views) >= LAYOUTS_KEPT:
                self._views.pop(next(iter(self._views)))
            self._views[key] = value
        return value

    def pairs_by_bid(self) -> dict[int, list[tuple[int, float]]]:
        """Each bid's overlapping bids with their scores (built once per map)."""
        if self._by_bid is None:
            by_bid: dict[int, list[tuple[int, float]]] = defaultdict(list)
            for a, b, score in self.pairs:
                by_bid[a].append((b, score))
                by_bid[b].append((a, score))
            self._by_bid = dict(by_bid)
        return self._by_bid

    def layout_of(self, key: tuple, graph: nx.Graph) -> dict[int, tuple[float, float]]:
        """The layout of one view of this map (a search, a community), computed once: the map
        is replaced when the data changes, and its layouts with it."""
        pos = self._layouts.get(key)
        if pos is None or set(pos) != set(graph.nodes):
            pos = layout(graph)
            if len(self._layouts) >= LAYOUTS_KEPT:
                self._layouts.pop(next(iter(self._layouts)))
            self._layouts[key] = pos
        return pos

    @property
    def community_of(self) -> dict[int, int]:
        return self.view_of(
            ("community_of",), lambda: {m: c.id for c in self.communities for m in c.members}
        )

    def graph(self) -> nx.Graph:
        if self._graph is None:
            self._graph = build_graph(self.bids, self.pairs, self.links, self.orgs)
        return self._graph

    def subgraph(self, bid_ids: set[int] | None) -> nx.Graph:
        if bid_ids is None:
            return self.graph()
        bids = {b: e for b, e in self.bids.items() if b in bid_ids}
        pairs = [p for p in self.pairs if p[0] in bids and p[1] in bids]
        links = [link for link in self.links if link[0] in bids and link[1] in bids]
        return build_graph(bids, pairs, links, self.orgs)

    def to_json(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "watermark": self.watermark,
            "built_at": self.built_at,
            "seconds": self.seconds,
            "stale": self.stale,
            "bids": [[b, e.organisation_id, e.funder_id] for b, e in self.bids.items()],
            "pairs": self.pairs,
            "links": self.links,
            "orgs": [[o.id, o.name, o.slug, o.kind] for o in self.orgs.values()],
            "communities": [[c.id, c.members, c.name, c.key_terms] for c in self.communities],
        }

    @classmethod
    def from_json(cls, data: dict) -> FieldMap:
        return cls(
            watermark=data["watermark"],
            built_at=data["built_at"],
            seconds=data["seconds"],
            stale=bool(data.get("stale", False)),
            bids={b: BidEnds(o, f) for b, o, f in data["bids"]},
            pairs=[(a, b, s) for a, b, s in data["pairs"]],
            links=[(a, b) for a, b in data["links"]],
            orgs={i: OrgInfo(i, n, s, k) for i, n, s, k in data["orgs"]},
            communities=[Community(i, m, n, t) for i, m, n, t in data["communities"]],
        )


def _public(query):
    return query.where(Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None))


def watermark(session=None) -> list:
    """Moves whenever a bid, an organisation, a lineage link or the similarity store changes."""
    from search_index import similarity

    session = session or db.session
    bids = session.execute(
        select(func.count(Bid.id), func.max(Bid.id), func.max(Bid.updated_at))
    ).one()
    orgs = session.execute(select(func.count(Organisation.id), func.max(Organisation.id))).one()
    links = session.execute(select(func.count(BidLink.id), func.max(BidLink.id))).one()
    manifest = similarity.get_store().manifest() or {}
    return [
        bids[0],
        bids[1],
        bids[2].isoformat() if bids[2] else None,
        *orgs,
        *links,
        manifest.get("base"),
        manifest.get("delta"),
    ]


def _load_facts(session) -> tuple[dict[int, BidEnds], dict[int, OrgInfo], list[tuple[int, int]]]:
    bids = {
        b: BidEnds(o, f)
        for b, o, f in session.execute(_public(select(Bid.id, Bid.organisation_id, Bid.funder_id)))
    }
    org_ids = {e.organisation_id for e in bids.values()} | {
        e.funder_id for e in bids.values() if e.funder_id is not None
    }
    orgs: dict[int, OrgInfo] = {}
    ids = sorted(org_ids)
    for start in range(0, len(ids), 5000):
        for i, name, slug, kind in session.execute(
            select(Organisation.id, Organisation.name, Organisation.slug, Organisation.kind).where(
                Organisation.id.in_(ids[start : start + 5000])
            )
        ):
            orgs[i] = OrgInfo(i, name, slug, str(kind))
    links = [
        (a, b)
        for a, b in session.execute(select(BidLink.from_bid_id, BidLink.to_bid_id))
        if a in bids and b in bids
    ]
    return bids, orgs, links


def build_field_map(progress: Callable[[str], None] | None = None, session=None) -> FieldMap:
    """Read everything public, score the pairs, find and name the communities."""
    from bids.database import utcnow
    from search_index.clusters import available_pairs, bid_texts

    step = progress or (lambda _name: None)
    session = session or db.session
    started = time.perf_counter()
    mark = watermark(session)
    step("bids")
    bids, orgs, links = _load_facts(session)
    step("pairs")
    pairs = [
        (int(p.a), int(p.b), float(p.score))
        for p in available_pairs(MIN_OVERLAP)
        if int(p.a) in bids and int(p.b) in bids
    ]
    step("communities")
    graph = build_graph(bids, pairs, links, orgs)
    groups = find_communities(graph)
    step("names")
    communities = name_communities(
        groups, bids, lambda ids: bid_texts(ids, session), {i: o.name for i, o in orgs.items()}
    )
    fmap = FieldMap(
        mark,
        utcnow().isoformat(timespec="seconds") + "Z",
        bids,
        pairs,
        links,
        orgs,
        communities,
        seconds=round(time.perf_counter() - started, 2),
        _graph=graph,
    )
    return fmap


# --- the cache ---------------------------------------------------------------------------

_lock = threading.Lock()
_memory: dict[str, tuple[FieldMap, int | None]] = {}  # file -> (map, the file's mtime_ns)
REFRESH_MARK_MAX_AGE_S = 3600  # a refresh marker older than this was left by a crashed refresh


def _cache_path() -> Path:
    from flask import current_app

    return Path(current_app.config["INSTANCE_DIR"]) / "network.json"


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


@contextmanager
def _writing() -> Iterator[Path]:
    """One writer of the map's files at a time, across the web processes and the worker."""
    path = _cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_field_map(fmap: FieldMap, path: Path | None = None) -> None:
    path = path or _cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(fmap.to_json(), separators=(",", ":")))
    os.replace(tmp, path)
    with _lock:
        _memory[str(path)] = (fmap, _mtime(path))


def _stored_map(path: Path) -> FieldMap | None:
    """The map in memory, or read from its file when that changed (another process wrote it)."""
    mtime = _mtime(path)
    with _lock:
        entry = _memory.get(str(path))
    if entry is not None and entry[1] == mtime:
        return entry[0]
    try:
        data = json.loads(path.read_text())
        if data.get("version") != FORMAT_VERSION:
            return entry[0] if entry else None
        loaded = FieldMap.from_json(data)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return entry[0] if entry else None
    with _lock:
        _memory[str(path)] = (loaded, mtime)
    return loaded


def _marker(path: Path) -> Path:
    return path.with_suffix(".refreshing")


def _pending(path: Path) -> Path:
    return path.with_suffix(".pending.json")


def _refreshing(path: Path) -> bool:
    mtime = _mtime(_marker(path))
    return mtime is not None and time.time() - mtime / 1e9 < REFRESH_MARK_MAX_AGE_S


def refresh_field_map(progress=None) -> FieldMap:
    """Rebuild the map; bids that changed while it was read (the outbox's followers note them
    meanwhile) are applied to it before it is saved."""
    with _writing() as path:
        _marker(path).touch()
        _pending(path).unlink(missing_ok=True)
    try:
        fmap = build_field_map(progress)
        with _writing() as path:
            try:
                noted = [int(i) for i in json.loads(_pending(path).read_text())]
            except (FileNotFoundError, ValueError, TypeError):
                noted = []
            if noted:
                fmap = update_field_map(fmap, noted, db.session)
            save_field_map(fmap, path)
    finally:
        with _writing() as path:
            _marker(path).unlink(missing_ok=True)
            _pending(path).unlink(missing_ok=True)
    return fmap


def field_map() -> FieldMap:
    """The current map: from memory, else the file, rebuilt when the watermark moved.

    Past `NETWORK_INLINE_MAX` bids (config) a page does not rebuild a stale map itself (that
    takes seconds at corpus scale): it shows the last one, which the outbox's followers keep
    up to date (`follow_similarity_changes`), until `network refresh` runs.
    """
    path = _cache_path()
    mark = watermark()
    with _lock:
        entry = _memory.get(str(path))
    if entry is not None and entry[0].watermark == mark:
        return entry[0]
    cached = _stored_map(path)
    if cached is not None and (cached.watermark == mark or len(cached.bids) > inline_max()):
        return cached
    return refresh_field_map()


def inline_max() -> int:
    """Maps of at most this many bids are rebuilt by a page when the data moved."""
    from flask import current_app

    return int(current_app.config.get("NETWORK_INLINE_MAX", INLINE_MAX))


# --- following the outbox ------------------------------------------------------------------


def _public_ends(session, ids: list[int]) -> dict[int, BidEnds]:
    out: dict[int, BidEnds] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        query = _public(select(Bid.id, Bid.organisation_id, Bid.funder_id)).where(Bid.id.in_(chunk))
        out.update({b: BidEnds(o, f) for b, o, f in session.execute(query)})
    return out


def update_field_map(fmap: FieldMap, changed: Iterable[int], session) -> FieldMap:
    """A new map with these bids' changes applied: each bid's applicant and funder read again
    (a hidden, withdrawn or deleted bid leaves the map), its overlapping pairs taken from the
    similarity store, its lineage links re-read, and its organisations' names refreshed.

    Communities are kept (an organisation no bid keeps on the map leaves its community; one
    new to the map joins the community it is most strongly linked to, else one of its own);
    `network refresh` finds them again from scratch. Exact for the changed bids' own pairs
    (their top neighbours); a pair another bid gains or loses as a result waits for the
    refresh.
    """
    from search_index import similarity

    ids = sorted({int(i) for i in changed})
    if not ids:
        return fmap
    mark = watermark(session)
    gone = set(ids)
    fresh = _public_ends(session, ids)
    bids = {b: e for b, e in fmap.bids.items() if b not in gone}
    bids.update(fresh)
    pairs = {(a, b): s for a, b, s in fmap.pairs if a not in gone and b not in gone}
    for bid_id in fresh:
        for pair in similarity.pairs_for(bid_id, min_score=MIN_OVERLAP):
            a, b, score = int(pair.a), int(pair.b), float(pair.score)
            if a in bids and b in bids and score >= MIN_OVERLAP:
                pairs[(min(a, b), max(a, b))] = score
    links = [link for link in fmap.links if link[0] not in gone and link[1] not in gone]
    for a, b in session.execute(
        select(BidLink.from_bid_id, BidLink.to_bid_id).where(
            BidLink.from_bid_id.in_(ids) | BidLink.to_bid_id.in_(ids)
        )
    ):
        if a in bids and b in bids and (a, b) not in links:
            links.append((a, b))
    orgs = dict(fmap.orgs)
    touched = sorted(
        {e.organisation_id for e in fresh.values()}
        | {e.funder_id for e in fresh.values() if e.funder_id is not None}
    )
    for start in range(0, len(touched), 5000):
        for i, name, slug, kind in session.execute(
            select(Organisation.id, Organisation.name, Organisation.slug, Organisation.kind).where(
                Organisation.id.in_(touched[start : start + 5000])
            )
        ):
            orgs[i] = OrgInfo(i, name, slug, str(kind))
    pair_list = sorted((a, b, s) for (a, b), s in pairs.items())
    on_map = {o for ends in bids.values() for o in (ends.organisation_id, ends.funder_id)}
    kept = {i: o for i, o in orgs.items() if i in on_map}  # the map's nodes (build_graph's)
    near = _newcomers_graph(fmap.communities, kept, bids, pairs, links)
    return FieldMap(
        mark,
        fmap.built_at,
        bids,
        pair_list,
        links,
        kept,
        _follow_communities(fmap.communities, near),
        seconds=fmap.seconds,
        stale=fmap.stale,
    )


def _newcomers_graph(
    communities: list[Community],
    orgs: dict[int, OrgInfo],
    bids: dict[int, BidEnds],
    pairs: dict[tuple[int, int], float],
    links: list[tuple[int, int]],
) -> nx.Graph:
    """What `_follow_communities` needs of the updated map, without building all of it (0.84 s
    at 42k, for every change the worker applied): the organisations on the map (`orgs`), and
    the links of those new to it. Each link of a newcomer comes from the bids that name it (as
    applicant or funder), their pairs and their lineage, so the graph over those bids and their
    partners holds every one of its links with its full weight."""
    known = {m for c in communities for m in c.members}
    newcomers = set(orgs) - known
    graph = nx.Graph()
    graph.add_nodes_from((org_id, {"name": info.name}) for org_id, info in orgs.items())
    if not newcomers:
        return graph
    theirs = {
        b for b, e in bids.items() if e.organisation_id in newcomers or e.funder_id in newcomers
    }
    their_pairs = [(a, b, s) for (a, b), s in pairs.items() if a in theirs or b in theirs]
    their_links = [(a, b) for a, b in links if a in theirs or b in theirs]
    near = theirs | {x for a, b, _ in their_pairs for x in (a, b)}
    near |= {x for link in their_links for x in link}
    local = build_graph({b: bids[b] for b in near if b in bids}, their_pairs, their_links, orgs)
    for node in newcomers & set(local.nodes):
        for other, data in local[node].items():
            graph.add_edge(node, other, weight=data["weight"])
    return graph


def _follow_communities(communities: list[Community], graph: nx.Graph) -> list[Community]:
    members = {c.id: [m for m in c.members if m in graph] for c in communities}
    community_of = {m: cid for cid, ms in members.items() for m in ms}
    next_id = max((c.id for c in communities), default=0) + 1
    for node in sorted(n for n in graph.nodes if n not in community_of):
        pull: dict[int, float] = defaultdict(float)
        for other, data in graph[node].items():
            if other in community_of:
                pull[community_of[other]] += data["weight"]
        if pull:
            cid = min(pull, key=lambda c: (-pull[c], c))
        else:
            cid, next_id = next_id, next_id + 1
            members[cid] = []
        members[cid].append(node)
        community_of[node] = cid
    by_id = {c.id: c for c in communities}
    out = []
    for cid, ms in members.items():
        if not ms:
            continue
        old = by_id.get(cid)
        name = old.name if old else graph.nodes[ms[0]].get("name", f"Community {cid}")
        out.append(Community(cid, sorted(ms), name, list(old.key_terms) if old else []))
    return out


def follow_similarity_changes(session, upserts: list[int], deletes: list[int]) -> None:
    """After the similarity store applied changed bids, bring the cached map up to date.

    Runs after every commit that published, changed, hid or withdrew a bid (the "similar"
    outbox rows, in the request or in the worker). With no map yet there is nothing to do
    (the first page or `network refresh` builds one), nor with a map a page rebuilds itself
    (at most `NETWORK_INLINE_MAX` bids); a batch past `FOLLOW_BATCH` bids
    marks the map stale for `network refresh`. During a refresh the bids are also noted for
    it, to be applied to the map it is building.
    """
    from flask import current_app

    changed = sorted(set(upserts) | set(deletes))
    if not changed or not current_app.config.get("NETWORK_AUTO_UPDATE", True):
        return
    with _writing() as path:
        if _refreshing(path):
            pending = _pending(path)
            try:
                noted = set(json.loads(pending.read_text()))
            except (FileNotFoundError, ValueError, TypeError):
                noted = set()
            pending.write_text(json.dumps(sorted(noted | set(changed))))
        current = _stored_map(path)
        if current is None or len(current.bids) <= inline_max():
            return  # a small map is rebuilt by the next page (its communities found afresh)
        if len(changed) > FOLLOW_BATCH:
            if not current.stale:
                current.stale = True
                save_field_map(current, path)
            return
        save_field_map(update_field_map(current, changed, session), path)
