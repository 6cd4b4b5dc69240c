"""The network map of the field: organisations linked by overlapping bids, applications and lineage.

`build_graph` is pure: from bid facts (applicant, funder), the matcher's scored pairs and
lineage links it makes an undirected networkx graph of organisations. Edge attributes:
`overlap` (sum of pair scores between two organisations' bids), `pairs`, `applied`
(bids from applicant to funder), `lineage` (resubmissions or "also sent to" between
them, or between the two funders of one organisation's linked bids) and `weight`, their
blend, which Louvain (`networkx.community.louvain_communities`, fixed seed) and the
spring layout (fixed seed) read. Communities are named by the words their bids share.

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from sqlalchemy import func, select

from bids.database import db
from bids.models import Bid, BidLink, Organisation, Visibility

MIN_OVERLAP = 0.125  # the clusters' threshold: above nearly every unrelated pair
OVERLAP_WEIGHT = 4.0
APPLIED_WEIGHT = 1.0
LINEAGE_WEIGHT = 2.0
SEED = 42
RESOLUTION = 1.0
MAX_DRAWN = 120  # past this many nodes the map shows communities as super-nodes
NAME_TERMS = 3
TERMS_SAMPLE = 300  # bids read per community to name it (and of the field, for common words)
FORMAT_VERSION = 1
LAYOUTS_KEPT = 128
INLINE_MAX = 5_000  # config NETWORK_INLINE_MAX
FOLLOW_BATCH = 500  # more changed bids at once (an import) mark the map stale: `network refresh`


@dataclass(frozen=True)
class BidEnds:
    organisation_id: int
    funder_id: int | None


@dataclass
class OrgInfo:
    id: int
    name: str
    slug: str
    kind: str


@dataclass
class Community:
    id: int
    members: list[int]
    name: str
    key_terms: list[str] = field(default_factory=list)


def _add(graph: nx.Graph, a: int, b: int, kind: str, amount: float) -> None:
    if a == b:
        return
    if not graph.has_edge(a, b):
        graph.add_edge(a, b, overlap=0.0, pairs=0, applied=0, lineage=0, weight=0.0)
    data = graph[a][b]
    if kind == "overlap":
        data["overlap"] = round(data["overlap"] + amount, 4)
        data["pairs"] += 1
        data["weight"] += OVERLAP_WEIGHT * amount
    elif kind == "applied":
        data["applied"] += 1
        data["weight"] += APPLIED_WEIGHT
    else:
        data["lineage"] += 1
        data["weight"] += LINEAGE_WEIGHT


def build_graph(
    bids: dict[int, BidEnds],
    pairs: Iterable[Any],
    links: Iterable[tuple[int, int]],
    orgs: dict[int, OrgInfo],
    *,
    min_score: float = MIN_OVERLAP,
) -> nx.Graph:
    """The organisations' graph over the given bids only (pairs and links outside are ignored)."""
    graph = nx.Graph()
    _add_nodes(graph, bids, orgs)
    for ends in bids.values():
        if ends.organisation_id in graph:
            graph.nodes[ends.organisation_id]["bids_sent"] += 1
        if ends.funder_id is not None and ends.funder_id in graph:
            graph.nodes[ends.funder_id]["bids_received"] += 1
            _add(graph, ends.organisation_id, ends.funder_id, "applied", 1)
    _add_text_edges(graph, bids, pairs, links, min_score)
    return graph


def _add_nodes(graph: nx.Graph, bids: dict[int, BidEnds], orgs: dict[int, OrgInfo]) -> None:
    """Every known organisation that sent or received one of the bids (counts start at 0)."""
    for ends in bids.values():
        for org_id in (ends.organisation_id, ends.funder_id):
            if org_id is not None and org_id in orgs and org_id not in graph:
                info = orgs[org_id]
                graph.add_node(
                    org_id,
                    name=info.name,
                    slug=info.slug,
                    kind=info.kind,
                    bids_sent=0,
                    bids_received=0,
                )


def _add_text_edges(
    graph: nx.Graph,
    bids: dict[int, BidEnds],
    pairs: Iterable[Any],
    links: Iterable[tuple[int, int]],
    min_score: float,
) -> None:
    """Overlap (similar texts) and lineage (linked bids) edges between the organisations."""
    for item in pairs:
        a, b, score = (int(item[0]), int(item[1]), float(item[2]))
        ea, eb = bids.get(a), bids.get(b)
        if score < min_score or ea is None or eb is None:
            continue
        if ea.organisation_id != eb.organisation_id:
            _add(graph, ea.organisation_id, eb.organisation_id, "overlap", score)
    for a, b in links:
        ea, eb = bids.get(a), bids.get(b)
        if ea is None or eb is None:
            continue
        if ea.organisation_id != eb.organisation_id:
            _add(graph, ea.organisation_id, eb.organisation_id, "lineage", 1)
        elif ea.funder_id and eb.funder_id:  # one project sent to two funders
            _add(graph, ea.funder_id, eb.funder_id, "lineage", 1)


def find_communities(graph: nx.Graph) -> list[list[int]]:
    """Louvain communities (fixed seed), largest first, members sorted; ties by smallest id."""
    if graph.number_of_nodes() == 0:
        return []
    found = nx.community.louvain_communities(
        graph, weight="weight", seed=SEED, resolution=RESOLUTION
    )
    groups = [sorted(c) for c in found]
    groups.sort(key=lambda c: (-len(c), c[0]))
    return groups


def name_communities(
    groups: list[list[int]],
    bids: dict[int, BidEnds],
    texts: Callable[[list[int]], dict[int, str]],
    names: dict[int, str] | None = None,
) -> list[Community]:
    """Each community named by words its organisations' bids share, the ones most more common
    in it than across the field (a sample of every bid) first."""
    from search_index.clusters import KEY_STOP_WORDS, KEY_WORD, BidFacts
    from search_index.clusters import words_shared_by_organisations as shared_terms

    names = names or {}
    by_org: dict[int, list[int]] = defaultdict(list)
    for bid_id, ends in sorted(bids.items()):
        by_org[ends.organisation_id].append(bid_id)
    sample_ids = sorted(bids)[:: max(1, len(bids) // TERMS_SAMPLE)][:TERMS_SAMPLE]
    sample = texts(sample_ids)
    document_frequency: Counter = Counter()
    for text in sample.values():
        document_frequency.update(
            {w.strip("'-") for w in KEY_WORD.findall((text or "").lower())} - KEY_STOP_WORDS
        )
    out = []
    for number, members in enumerate(groups, start=1):
        chosen: list[int] = []
        per_org = max(1, TERMS_SAMPLE // max(1, len(members)))
        for org_id in members:
            chosen.extend(by_org.get(org_id, [])[:per_org])
        chosen = chosen[:TERMS_SAMPLE]
        facts = {b: BidFacts(b, bids[b].organisation_id) for b in chosen}
        own = texts(chosen)
        candidates = shared_terms(own, facts, limit=NAME_TERMS * 8) if len(chosen) > 1 else []
        used: Counter[str] = Counter()
        for text in own.values():
            used.update({w.strip("'-") for w in KEY_WORD.findall((text or "").lower())})

        def lift(term: str, used: Counter[str] = used, own: dict = own) -> float:
            field_share = (document_frequency[term] + 1) / (len(sample) + 1)
            return (used[term] / max(1, len(own))) / field_share

        terms = sorted(
            (t for t in candidates if lift(t) > 1.0),
            key=lambda t: (-round(lift(t), 3), candidates.index(t)),
        )[:NAME_TERMS]
        if terms:
            name = " · ".join(terms)
        else:  # too few organisations share words: name it by its best-connected members
            named = [names[m] for m in members if m in names][:2]
            name = " & ".join(named) if named else f"Community {number}"
        out.append(Community(number, members, name, terms))
    return out


def _spring(graph: nx.Graph) -> dict[int, tuple[float, float]]:
    """One connected graph's spring layout (fixed seed), scaled to 0..1 on both axes."""
    if graph.number_of_nodes() == 1:
        return {next(iter(graph.nodes)): (0.5, 0.5)}
    k = 1.5 / max(1.0, graph.number_of_nodes() ** 0.5)
    pos = nx.spring_layout(graph, weight="weight", seed=SEED, k=k, iterations=100)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return {
        n: ((p[0] - x0) / ((x1 - x0) or 1), (p[1] - y0) / ((y1 - y0) or 1)) for n, p in pos.items()
    }


def layout(graph: nx.Graph) -> dict[int, tuple[float, float]]:
    """Positions in the unit square: each connected part laid out on its own (a spring layout
    pushes unconnected parts to the edges and squashes the rest), the parts packed in rows,
    each in a cell whose side grows with the square root of its size."""
    if graph.number_of_nodes() == 0:
        return {}
    parts = sorted(
        (sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0])
    )
    sides = [len(c) ** 0.5 for c in parts]
    total = sum(side * side for side in sides)
    row_width = max(max(sides), total**0.5 * 1.2)
    cells, x, y, row_height = [], 0.0, 0.0, 0.0
    for side in sides:
        if x > 0 and x + side > row_width:
            x, y, row_height = 0.0, y + row_height, 0.0
        cells.append((x, y, side))
        x += side
        row_height = max(row_height, side)
    width, height = row_width, y + row_height
    scale = max(width, height)
    out: dict[int, tuple[float, float]] = {}
    for part, (cx, cy, side) in zip(parts, cells, strict=True):
        inner = _spring(graph.subgraph(part))
        pad = side * 0.1
        for n, (px, py) in inner.items():
            out[n] = (
                round((cx + pad + px * (side - 2 * pad)) / scale, 4),
                round((cy + pad + py * (side - 2 * pad)) / scale, 4),
            )
    return out


# --- the field map over the database -----------------------------------------------------


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
    graph = build_graph(bids, pair_list, links, orgs)
    return FieldMap(
        mark,
        fmap.built_at,
        bids,
        pair_list,
        links,
        {i: o for i, o in orgs.items() if i in graph},
        _follow_communities(fmap.communities, graph),
        seconds=fmap.seconds,
        stale=fmap.stale,
        _graph=graph,
    )


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


# --- views of the map --------------------------------------------------------------------


def node_link(graph: nx.Graph, community_of: dict[int, int]) -> dict:
    """networkx node-link JSON, with each node's community."""
    for node in graph.nodes:
        graph.nodes[node]["community"] = community_of.get(node)
    return nx.node_link_data(graph, edges="links")


def export_graph(graph: nx.Graph, community_of: dict[int, int], fmt: str) -> str:
    """GEXF or GraphML text (for Gephi) of the graph, communities as a node attribute."""
    copy = nx.Graph()
    for node, data in graph.nodes(data=True):
        copy.add_node(
            node,
            label=data.get("name", ""),
            slug=data.get("slug", ""),
            kind=data.get("kind", ""),
            bids_sent=data.get("bids_sent", 0),
            bids_received=data.get("bids_received", 0),
            community=community_of.get(node, 0) or 0,
        )
    for a, b, data in graph.edges(data=True):
        copy.add_edge(
            a,
            b,
            weight=float(data["weight"]),
            overlap=float(data["overlap"]),
            pairs=int(data["pairs"]),
            applied=int(data["applied"]),
            lineage=int(data["lineage"]),
        )
    if fmt == "gexf":
        return "\n".join(nx.generate_gexf(copy))
    return "\n".join(nx.generate_graphml(copy))


def neighbourhood(graph: nx.Graph, org_id: int, depth: int = 1, limit: int = 40) -> nx.Graph:
    """The organisation and its neighbours up to `depth` steps, strongest links kept first."""
    if org_id not in graph:
        return nx.Graph()
    depth = max(1, min(2, depth))
    keep = {org_id}
    frontier = [org_id]
    for _ in range(depth):
        nxt = []
        for node in frontier:
            ranked = sorted(graph[node].items(), key=lambda kv: (-kv[1]["weight"], kv[0]))
            for other, _ in ranked:
                if len(keep) >= limit:
                    break
                if other not in keep:
                    keep.add(other)
                    nxt.append(other)
        frontier = nxt
    return graph.subgraph(keep).copy()


def community_graph(graph: nx.Graph, community_of: dict[int, int]) -> nx.Graph:
    """Communities as super-nodes: size = members, edges = summed weights between them."""
    out = nx.Graph()
    sizes = Counter(community_of.get(n) for n in graph.nodes if community_of.get(n))
    for cid, size in sizes.items():
        out.add_node(cid, size=size)
    for a, b, data in graph.edges(data=True):
        ca, cb = community_of.get(a), community_of.get(b)
        if ca and cb and ca != cb:
            if out.has_edge(ca, cb):
                out[ca][cb]["weight"] += data["weight"]
            else:
                out.add_edge(ca, cb, weight=data["weight"])
    return out
