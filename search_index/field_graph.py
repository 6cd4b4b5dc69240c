"""The organisations' graph of the field, pure: built from bid facts, the matcher's pairs and
lineage links; its communities, their names, layouts and the views the pages and exports draw.

`build_graph` makes an undirected networkx graph of organisations from bid facts (applicant,
funder), the matcher's scored pairs and lineage links. Edge attributes: `overlap` (sum of pair
scores between two organisations' bids), `pairs`, `applied` (bids from applicant to funder),
`lineage` (resubmissions or "also sent to" between them, or between the two funders of one
organisation's linked bids) and `weight`, their blend, which Louvain
(`networkx.community.louvain_communities`, fixed seed) and the spring layout (fixed seed)
read. Communities are named by the words their bids share. Nothing here reads the database:
`search_index.network` keeps the whole field's map over it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

MIN_OVERLAP = 0.125  # the clusters' threshold: above nearly every unrelated pair
OVERLAP_WEIGHT = 4.0
APPLIED_WEIGHT = 1.0
LINEAGE_WEIGHT = 2.0
SEED = 42
RESOLUTION = 1.0
MAX_DRAWN = 120  # past this many nodes the map shows communities as super-nodes
# A community's close-up draws at most this many of its members, the most connected: the
# largest of the 42k SBIR field's has 3,512, whose spring layout took a minute (four under
# load) and whose SVG weighed 2 MB, past reading. The downloads hold every member.
CLOSE_UP_MAX = 200
NAME_TERMS = 3
TERMS_SAMPLE = 300  # bids read per community to name it (and of the field, for common words)


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


def most_connected(graph: nx.Graph, limit: int) -> nx.Graph:
    """The `limit` nodes with the strongest links (weighted degree; ties by id) and the links
    among them; the graph itself when it is no larger."""
    if graph.number_of_nodes() <= limit:
        return graph
    degree = dict(graph.degree(weight="weight"))
    keep = sorted(graph.nodes, key=lambda n: (-degree[n], n))[:limit]
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
