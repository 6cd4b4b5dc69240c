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
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
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
    _graph: nx.Graph | None = None
    _layouts: dict = field(default_factory=dict)
    _by_bid: dict | None = None

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
        return {m: c.id for c in self.communities for m in c.members}

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
_memory: dict[str, FieldMap] = {}


def _cache_path() -> Path:
    from flask import current_app

    return Path(current_app.config["INSTANCE_DIR"]) / "network.json"


def save_field_map(fmap: FieldMap) -> None:
    path = _cache_path()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(fmap.to_json(), separators=(",", ":")))
    os.replace(tmp, path)
    with _lock:
        _memory[str(path)] = fmap


def refresh_field_map(progress=None) -> FieldMap:
    fmap = build_field_map(progress)
    save_field_map(fmap)
    return fmap


def field_map() -> FieldMap:
    """The current map: from memory, else the file, rebuilt when the watermark moved.

    Past `NETWORK_INLINE_MAX` bids (config) a page does not rebuild a stale map itself (that
    takes seconds at corpus scale): it shows the last one, with its date, until `network
    refresh` runs (as the overlap clusters leave large batches to `overlaps refresh`).
    """
    from flask import current_app

    path = _cache_path()
    mark = watermark()
    with _lock:
        cached = _memory.get(str(path))
    if cached is not None and cached.watermark == mark:
        return cached
    if cached is None:
        try:
            data = json.loads(path.read_text())
            if data.get("version") == FORMAT_VERSION:
                cached = FieldMap.from_json(data)
                with _lock:
                    _memory[str(path)] = cached
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            cached = None
    if cached is not None and (
        cached.watermark == mark
        or len(cached.bids) > int(current_app.config.get("NETWORK_INLINE_MAX", INLINE_MAX))
    ):
        return cached
    return refresh_field_map()


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
