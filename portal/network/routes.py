"""/network: the map of the field (or of any search), a community's close-up, and downloads."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    get_template_attribute,
    jsonify,
    render_template,
    request,
    url_for,
)

from portal.drawing import HEIGHT, WIDTH, community_colour, draw
from portal.network import bp
from portal.search_args import request_search, search_args
from search_index.field_graph import (
    CLOSE_UP_MAX,
    MAX_DRAWN,
    community_graph,
    export_graph,
    most_connected,
    node_link,
)
from search_index.network import field_map
from search_index.selection import matching_bid_ids, narrows

MAX_COMMUNITY = 1_000_000


def _community_arg() -> int | None:
    raw = request.args.get("community", "")
    if raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COMMUNITY:
        abort(400, "`community` must be a community's number.")
    return int(raw)


def selected_graph():
    """The map's graph for this request's search and community; 404 for an unknown community.
    Without a search, each community's graph is made once per map."""
    q, filters = request_search(request.args)
    fmap = field_map()
    ids = matching_bid_ids(q, filters)
    community_of = fmap.community_of
    chosen = _community_arg()
    community = None
    if chosen is not None:
        community = next((c for c in fmap.communities if c.id == chosen), None)
        if community is None:
            abort(404)

    def select():
        graph = fmap.subgraph(ids)
        if community is not None:
            graph = graph.subgraph([m for m in community.members if m in graph]).copy()
        return graph

    graph = fmap.view_of(("graph", chosen), select) if ids is None else select()
    return fmap, graph, community_of, community


@bp.get("/network")
def index():
    fmap, graph, community_of, community = selected_graph()
    args = search_args()
    view = (
        tuple(sorted((k, tuple(v)) for k, v in args.items())),
        community.id if community else None,
    )
    if not narrows(*request_search(request.args)):
        drawn = fmap.view_of(("page", view), lambda: _drawn(fmap, graph, community, args))
    else:
        drawn = _drawn(fmap, graph, community, args)
    return render_template(
        "network/index.html",
        fmap=fmap,
        graph=graph,
        community=community,
        colour=community_colour,
        args=args,
        q=request.args.get("q", ""),
        download_args={**args, "community": community.id} if community else args,
        **drawn,
    )


def _drawn(fmap, graph, community, args) -> dict:
    """The map's SVG (rendered once per map and view: thousands of shapes in a close-up) and
    its communities' lists."""
    community_of = fmap.community_of
    names = {c.id: c for c in fmap.communities}
    present = sorted({community_of.get(n) for n in graph.nodes if community_of.get(n)})
    summary = graph.number_of_nodes() > MAX_DRAWN and community is None
    view = (
        tuple(sorted((k, tuple(v)) for k, v in args.items())),
        community.id if community else None,
        summary,
    )  # the layout's key, as before
    if summary:
        cgraph = community_graph(graph, community_of)
        for cid in cgraph.nodes:
            cgraph.nodes[cid]["name"] = names[cid].name
        shapes, lines = draw(
            cgraph,
            colour_of=community_colour,
            href_of=lambda c: url_for("network.index", community=c, **args),
            title_of=lambda c: f"{names[c].name}: {cgraph.nodes[c]['size']} organisations",
            size_of=lambda c: cgraph.nodes[c]["size"],
            square_of=lambda c: False,
            pos=fmap.layout_of(view, cgraph),
        )
        drawn_nodes = None
    else:
        drawn = most_connected(graph, CLOSE_UP_MAX)
        shapes, lines = draw(
            drawn,
            colour_of=lambda n: community_colour(community_of.get(n)),
            href_of=lambda n: url_for("insights.profile", slug=graph.nodes[n]["slug"]),
            title_of=lambda n: _node_title(graph, n, names, community_of),
            size_of=lambda n: graph.degree(n, weight="weight") + 1,
            square_of=lambda n: graph.nodes[n]["kind"] == "funder",
            pos=fmap.layout_of(view, drawn),
        )
        drawn_nodes = drawn.number_of_nodes()
    by_community: dict[int, list[int]] = {cid: [] for cid in present}
    for n in graph.nodes:
        cid = community_of.get(n)
        if cid in by_community:
            by_community[cid].append(n)
    degree = dict(graph.degree(weight="weight"))
    members = {
        cid: sorted(nodes, key=lambda n: (-degree[n], n)) for cid, nodes in by_community.items()
    }
    network_svg = get_template_attribute("network/_map.html", "network_svg")
    label = (
        "Network map: "
        + (community.name if community else "the field")
        + ". The same organisations are listed by community below."
    )
    return {
        "svg": network_svg(shapes, lines, WIDTH, HEIGHT, label) if graph.number_of_nodes() else "",
        "summary": summary,
        "drawn_nodes": drawn_nodes,
        "communities": [names[c] for c in present],
        "members": members,
    }


def _node_title(graph, n, names, community_of) -> str:
    data = graph.nodes[n]
    cid = community_of.get(n)
    role = "funder" if data["kind"] == "funder" else "applicant"
    where = f"; community: {names[cid].name}" if cid in names else ""
    return (
        f"{data['name']} ({role}): {data['bids_sent']} bids sent, "
        f"{data['bids_received']} received{where}"
    )


@bp.get("/network.<any(json, gexf, graphml):fmt>")
def download(fmt: str):
    _, graph, community_of, _ = selected_graph()
    if fmt == "json":
        response = jsonify(node_link(graph, community_of))
    else:
        response = Response(
            export_graph(graph, community_of, fmt),
            mimetype="application/gexf+xml" if fmt == "gexf" else "application/graphml+xml",
        )
    response.headers["Content-Disposition"] = f'attachment; filename="open-bids-network.{fmt}"'
    return response
