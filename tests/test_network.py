"""The network map: edges and communities on small fixtures, the cache, the routes, the command."""

from __future__ import annotations

import io

import networkx as nx
import pytest

from search_index.field_graph import (
    BidEnds,
    OrgInfo,
    build_graph,
    community_graph,
    find_communities,
    layout,
    most_connected,
    name_communities,
    neighbourhood,
)

# Two groups of applicants (1-3 and 4-6), each with its own funder (10, 20); bids 100+.
ORGS = {i: OrgInfo(i, f"Org {i}", f"org-{i}", "applicant") for i in range(1, 7)}
ORGS |= {
    10: OrgInfo(10, "Fund Ten", "fund-ten", "funder"),
    20: OrgInfo(20, "Fund Twenty", "fund-twenty", "funder"),
}
BIDS = {
    100: BidEnds(1, 10),
    101: BidEnds(2, 10),
    102: BidEnds(3, 10),
    103: BidEnds(4, 20),
    104: BidEnds(5, 20),
    105: BidEnds(6, 20),
    106: BidEnds(1, 20),
}
PAIRS = [
    (100, 101, 0.4),
    (101, 102, 0.35),
    (100, 102, 0.3),
    (103, 104, 0.45),
    (104, 105, 0.3),
    (103, 105, 0.25),
    (100, 103, 0.05),  # below the threshold: no edge
    (100, 106, 0.9),
]  # one organisation's two bids: no self-loop
LINKS = [(106, 100)]  # organisation 1 sent one project to both funders


def graph() -> nx.Graph:
    return build_graph(BIDS, PAIRS, LINKS, ORGS)


def test_edges_are_overlaps_applications_and_lineage():
    g = graph()
    assert set(g.nodes) == set(ORGS)
    assert g[1][2]["overlap"] == 0.4 and g[1][2]["pairs"] == 1 and g[1][2]["applied"] == 0
    assert not g.has_edge(1, 4)  # 0.05 is under the threshold
    assert not any(a == b for a, b in g.edges)
    assert g[1][10]["applied"] == 1 and g[1][20]["applied"] == 1
    assert g[10][20]["lineage"] == 1  # one project, two funders
    assert g.nodes[1]["bids_sent"] == 2 and g.nodes[20]["bids_received"] == 4


def test_known_communities_are_found_with_their_funders():
    groups = find_communities(graph())
    assert sorted(map(sorted, groups)) == [[1, 2, 3, 10], [4, 5, 6, 20]]
    assert find_communities(graph()) == groups  # the seed is fixed


def test_communities_are_named_by_shared_distinctive_words():
    texts = {
        100: "kinship carers network relational",
        101: "kinship carers befriending",
        102: "carers kinship gardens",
        103: "orchard apples pruning",
        104: "orchard pruning apples cider",
        105: "apples orchard",
        106: "general words",
    }
    groups = find_communities(graph())
    named = name_communities(
        groups, BIDS, lambda ids: {i: texts[i] for i in ids}, {i: o.name for i, o in ORGS.items()}
    )
    names = {tuple(sorted(c.members)): c.name for c in named}
    assert set(names[(1, 2, 3, 10)].split(" · ")) == {"kinship", "carers"}
    assert set(names[(4, 5, 6, 20)].split(" · ")) >= {"orchard", "apples"}


def test_community_graph_and_neighbourhood():
    g = graph()
    community_of = {n: (1 if n in (1, 2, 3, 10) else 2) for n in g.nodes}
    supers = community_graph(g, community_of)
    assert dict(supers.nodes(data="size")) == {1: 4, 2: 4}
    assert supers.has_edge(1, 2)  # org 1 applied to fund 20, and the lineage link
    hood = neighbourhood(g, 4, depth=1)
    assert set(hood.nodes) == {4, 5, 6, 20}
    assert neighbourhood(g, 999).number_of_nodes() == 0


def test_most_connected_keeps_the_strongest_nodes_and_their_links():
    g = graph()
    degree = dict(g.degree(weight="weight"))
    top = most_connected(g, 3)
    assert set(top.nodes) == set(sorted(g.nodes, key=lambda n: (-degree[n], n))[:3])
    assert set(top.edges) == {(a, b) for a, b in g.subgraph(top.nodes).edges}
    assert most_connected(g, 100) is g


def test_layout_is_deterministic_and_in_the_unit_square():
    pos = layout(graph())
    assert pos == layout(graph())
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in pos.values())


def test_a_subset_of_bids_keeps_only_their_edges():
    bids = {b: e for b, e in BIDS.items() if b in (103, 104, 105)}
    g = build_graph(bids, PAIRS, LINKS, ORGS)
    assert set(g.nodes) == {4, 5, 6, 20}


# --- over the database and HTTP -----------------------------------------------------------

GARDEN = (
    "Our community garden project brings neighbours together to grow vegetables, share "
    "seeds, compost food waste and teach children about soil, pollinators and seasonal "
    "cooking in raised beds on the estate, with volunteers meeting every weekend."
)
CARE = (
    "Kinship carers looking after grandchildren meet in peer support circles, share advice "
    "on benefits, schools and contact arrangements, and build friendships that last."
)


@pytest.fixture
def field(factory, db):
    from search_index import sync

    orgs = [factory.org(f"Garden Group {i}") for i in range(3)] + [
        factory.org(f"Kinship Circle {i}") for i in range(2)
    ]
    for i, org in enumerate(orgs[:3]):
        factory.bid(
            org,
            title=f"Garden {i}",
            summary="Growing together",
            body=GARDEN + f" {i}",
            funder={"name": "Green Fund"},
        )
    for i, org in enumerate(orgs[3:]):
        factory.bid(
            org,
            title=f"Kinship {i}",
            summary="Carers together",
            body=CARE + f" {i}",
            funder={"name": "Family Trust"},
        )
    sync()
    return orgs


def test_field_map_is_cached_until_the_data_changes(field, app, factory):
    from search_index import sync
    from search_index.network import field_map

    first = field_map()
    assert field_map() is first
    factory.bid(field[0], title="Another garden", body=GARDEN)
    sync()
    assert field_map() is not first


def test_network_page_lists_communities_and_links_profiles(field, client):
    page = client.get("/network").get_data(as_text=True)
    assert "<svg" in page and 'class="network-map"' in page
    assert "Communities" in page and "/orgs/garden-group-0/profile" in page
    assert "Green Fund" in page


def test_network_follows_a_search(field, client):
    data = client.get("/api/v1/network?q=kinship").get_json()
    names = {n["name"] for n in data["nodes"]}
    assert names == {"Kinship Circle 0", "Kinship Circle 1", "Family Trust"}


def test_garden_groups_form_one_community_with_their_funder(field, client):
    data = client.get("/api/v1/network").get_json()
    community = {n["name"]: n["community"] for n in data["nodes"]}
    gardens = {community[f"Garden Group {i}"] for i in range(3)} | {community["Green Fund"]}
    assert len(gardens) == 1
    assert community["Kinship Circle 0"] not in gardens


def test_one_community_close_up_and_bad_numbers(field, client):
    assert client.get("/network?community=1").status_code == 200
    assert client.get("/network?community=999").status_code == 404
    assert client.get("/network?community=abc").status_code == 400
    assert client.get("/network?year=nope").status_code == 400
    assert client.get("/api/v1/network?community=-1").status_code == 400


def test_a_large_community_close_up_draws_its_most_connected_members(field, client, monkeypatch):
    import portal.network.routes as routes

    page = client.get("/network?community=1").get_data(as_text=True)
    members = page.count('class="node"')
    assert members > 2 and 'id="drawn-note"' not in page
    monkeypatch.setattr(routes, "CLOSE_UP_MAX", 2)
    page = client.get("/network?community=1&q=garden OR kinship").get_data(as_text=True)
    assert page.count('class="node"') == 2  # of the community's organisations
    assert "draws the 2 most connected of these" in page


@pytest.mark.parametrize("fmt,reader", [("gexf", nx.read_gexf), ("graphml", nx.read_graphml)])
def test_downloads_open_in_networkx(field, client, fmt, reader):
    response = client.get(f"/network.{fmt}")
    assert response.status_code == 200
    g = reader(io.BytesIO(response.data))
    assert g.number_of_nodes() == 7  # five applicants, two funders


def test_node_link_json_download(field, client):
    data = client.get("/network.json").get_json()
    g = nx.node_link_graph(data, edges="links")
    assert g.number_of_nodes() == 7 and all("community" in d for _, d in g.nodes(data=True))


def test_network_refresh_command(field, runner, app):
    from pathlib import Path

    result = runner.invoke(args=["network", "refresh"])
    assert result.exit_code == 0, result.output
    assert "7 organisations" in result.output and "communities" in result.output
    assert (Path(app.config["INSTANCE_DIR"]) / "network.json").exists()


def test_the_map_is_read_back_from_its_file(field, app):
    import search_index.network as network

    built = network.refresh_field_map()
    network._memory.clear()
    again = network.field_map()
    assert again is not built and again.communities == built.communities


def test_profile_shows_fellow_travellers(field, client):
    page = client.get("/orgs/garden-group-0/profile").get_data(as_text=True)
    assert "Fellow travellers" in page
    assert "Garden Group 1" in page and "Compare the closest bids" in page
    data = client.get(f"/api/v1/organisations/{field[0].id}/profile").get_json()
    assert {f["organisation"]["name"] for f in data["fellow_travellers"]} == {
        "Garden Group 1",
        "Garden Group 2",
    }
    assert data["community"]["size"] == 4


def test_layouts_are_kept_with_the_map(field, app):
    from search_index.network import field_map

    fmap = field_map()
    graph = fmap.graph()
    first = fmap.layout_of(("all",), graph)
    assert fmap.layout_of(("all",), graph) is first
    assert set(first) == set(graph.nodes)


def test_a_large_map_is_not_rebuilt_by_a_page(field, app, factory, monkeypatch):
    import search_index.network as network
    from search_index import sync

    first = network.field_map()
    app.config["NETWORK_INLINE_MAX"] = 0  # every map counts as large
    app.config["NETWORK_AUTO_UPDATE"] = False  # and no follower keeps it up to date
    factory.bid(field[0], title="Another garden", body=GARDEN)
    sync()
    assert network.field_map() is first  # the last map, until `network refresh`
    app.config["NETWORK_INLINE_MAX"] = 5000
    assert network.field_map() is not first


# --- where a draft fits (the draft check) ---------------------------------------------------


def test_a_draft_falls_into_the_community_of_the_bids_it_overlaps(field, app, db):
    from bids.models import Bid
    from search_index.fellows import draft_fit
    from search_index.network import field_map

    fmap = field_map()
    garden_ids = {o.id for o in field[:3]}
    bid_of = {b.organisation_id: b.id for b in db.session.query(Bid)}
    gardens = fmap.community_of[field[0].id]
    kinship = fmap.community_of[field[3].id]
    assert gardens != kinship
    scored = [(bid_of[field[0].id], 0.6), (bid_of[field[1].id], 0.3), (bid_of[field[3].id], 0.5)]
    fit = draft_fit(scored)
    # Two garden groups outweigh one kinship circle (0.9 against 0.5).
    assert fit["community"]["id"] == gardens
    assert fit["community"]["share"] == pytest.approx(0.9 / 1.4, abs=1e-3)
    assert [o["organisation"]["name"] for o in fit["organisations"]] == [
        "Garden Group 0",
        "Kinship Circle 0",
        "Garden Group 1",
    ]
    assert {f["funder"]["name"] for f in fit["funders"]} == {"Green Fund", "Family Trust"}
    assert {o["organisation"]["id"] for o in fit["organisations"]} & garden_ids
    assert draft_fit([(bid_of[field[4].id], 0.4)])["community"]["id"] == kinship
    assert draft_fit([]) is None
    assert draft_fit([(10**9, 0.9)]) is None  # not a public bid of the map


def test_a_hidden_bid_does_not_place_a_draft(field, app, db, factory):
    from bids.models import Bid
    from bids.publishing import hide_bid
    from search_index.fellows import draft_fit

    bid = db.session.query(Bid).filter_by(organisation_id=field[3].id).one()
    hide_bid(factory.user(admin=True), bid, "Moderation test")
    db.session.commit()
    assert draft_fit([(bid.id, 0.9)]) is None


def _check_page(client, **data) -> str:
    page = client.post("/check", data=data, content_type="multipart/form-data")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _community_link(html: str) -> str:
    import re

    fit = html.split('id="where-you-fit"', 1)[1]
    found = re.search(r'href="/network\?community=(\d+)"', fit)
    assert found, fit[:500]
    return found.group(1)


def test_check_page_shows_where_pasted_text_fits(field, client, app):
    from search_index.network import field_map

    html = _check_page(client, title="Our garden", text=GARDEN)
    gardens = field_map().community_of[field[0].id]
    assert _community_link(html) == str(gardens)
    fit = html.split('id="where-you-fit"', 1)[1]
    assert "/orgs/garden-group-0/profile" in fit and "/orgs/green-fund/profile" in fit
    assert "Kinship Circle" not in fit


def test_check_page_shows_where_a_pdf_fits(field, client, app):
    from search_index.network import field_map
    from tests.pdf_builders import text_pdf

    pdf = text_pdf(CARE)
    html = _check_page(client, text="", file=(io.BytesIO(pdf), "draft.pdf"))
    assert _community_link(html) == str(field_map().community_of[field[3].id])
    assert "/orgs/kinship-circle-0/profile" in html.split('id="where-you-fit"', 1)[1]


def test_check_page_says_when_a_draft_fits_nowhere(field, client):
    text = (
        "Fibreglass hulls, marine engines, harbour moorings and outboard motors for the "
        "fishing boats of small island ports, serviced by apprentices every winter season."
    )
    html = _check_page(client, text=text)
    assert "overlaps no published bid enough to place it" in html


# --- the map follows the outbox ------------------------------------------------------------


@pytest.fixture
def large(field, app, monkeypatch):
    """The field's map built once; pages may not rebuild it (as at corpus scale)."""
    import search_index.network as network

    built = network.field_map()
    app.config["NETWORK_INLINE_MAX"] = 0

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the map was rebuilt, not updated")

    monkeypatch.setattr(network, "build_field_map", no_rebuild)
    return built


def _kinship_bid(db, org):
    from bids.models import Bid

    return db.session.query(Bid).filter_by(organisation_id=org.id).one()


def _edges(client) -> set[frozenset[str]]:
    data = client.get("/api/v1/network").get_json()
    names = {n["id"]: n["name"] for n in data["nodes"]}
    return {frozenset((names[e["source"]], names[e["target"]])) for e in data["links"]}


def test_a_hidden_bid_leaves_the_map_when_the_outbox_applies_it(large, field, db, factory, client):
    from bids.publishing import hide_bid, unhide_bid

    circle = frozenset(("Kinship Circle 0", "Kinship Circle 1"))
    applied = frozenset(("Kinship Circle 1", "Family Trust"))
    assert {circle, applied} <= _edges(client)
    bid = _kinship_bid(db, field[4])
    admin = factory.user(admin=True)
    hide_bid(admin, bid, "Moderation test")
    db.session.commit()  # nothing else called: the commit's outbox rows did it
    edges = _edges(client)
    assert circle not in edges and applied not in edges
    assert frozenset(("Kinship Circle 0", "Family Trust")) in edges
    page = client.get("/network").get_data(as_text=True)
    assert "Kinship Circle 1" not in page and "Kinship Circle 0" in page
    unhide_bid(admin, bid)
    db.session.commit()
    assert {circle, applied} <= _edges(client)


def test_the_worker_applies_a_hidden_bid_to_the_map_other_processes_read(
    large, field, db, factory, client, app
):
    import search_index.network as network
    from bids.publishing import hide_bid
    from search_index import outbox

    app.config["INDEX_MODE"] = "worker"
    circle = frozenset(("Kinship Circle 0", "Kinship Circle 1"))
    hide_bid(factory.user(admin=True), _kinship_bid(db, field[4]), "Moderation test")
    db.session.commit()
    assert circle in _edges(client)  # queued: the worker has not run yet
    served = network.field_map()
    path, (_, mtime) = next(iter(network._memory.items()))
    for target in ("search", "similar", outbox.FOLLOW_UPS):
        outbox.drain(target)
    # A web process still holding the old map in memory reads the file the worker wrote.
    network._memory[path] = (served, mtime)
    assert circle not in _edges(client)
    assert network.field_map() is not served


def test_a_published_bid_joins_its_neighbours_community(large, field, db, factory):
    from search_index.network import field_map

    before = field_map()
    gardens = before.community_of[field[0].id]
    newcomer = factory.org("Garden Newcomers")
    factory.bid(newcomer, title="Garden too", body=GARDEN, funder={"name": "Green Fund"})
    db.session.commit()
    after = field_map()
    assert after is not before and after.built_at == before.built_at  # updated, not rebuilt
    assert after.community_of[newcomer.id] == gardens
    graph = after.graph()
    assert graph[newcomer.id][field[0].id]["overlap"] > 0
    assert graph.nodes[newcomer.id]["bids_sent"] == 1


def test_a_large_batch_marks_the_map_stale_for_the_refresh(large, field, app, client, runner):
    import search_index.network as network

    many = list(range(1, network.FOLLOW_BATCH + 2))
    network.follow_similarity_changes(network.db.session, many, [])
    assert network.field_map().stale
    assert "appears after the next full rebuild" in client.get("/network").get_data(as_text=True)


def test_changes_during_a_refresh_reach_the_map_it_saves(field, app, db, factory, monkeypatch):
    import search_index.network as network
    from bids.publishing import hide_bid

    network.field_map()
    bid = _kinship_bid(db, field[4])
    build = network.build_field_map

    def build_then_hide(progress=None):
        fmap = build(progress)  # read before the bid is hidden
        hide_bid(factory.user(admin=True), bid, "Moderation during a refresh")
        db.session.commit()
        return fmap

    monkeypatch.setattr(network, "build_field_map", build_then_hide)
    saved = network.refresh_field_map()
    assert bid.id not in saved.bids and field[4].id not in saved.graph()
    network._memory.clear()
    assert field[4].id not in network.field_map().graph()


def test_a_small_map_is_left_for_the_page_to_rebuild(field, db, factory, monkeypatch):
    import search_index.network as network

    first = network.field_map()
    updates = []
    monkeypatch.setattr(network, "update_field_map", lambda *a, **kw: updates.append(a))
    newcomer = factory.org("Garden Newcomers")
    factory.bid(newcomer, title="Garden too", body=GARDEN, funder={"name": "Green Fund"})
    db.session.commit()
    assert updates == []  # a few bids: the page finds the communities afresh
    again = network.field_map()
    assert again is not first and newcomer.id in again.community_of


def test_an_update_finds_newcomers_communities_without_building_the_whole_graph(
    field, db, factory, monkeypatch
):
    """The same communities as from the whole updated graph, from the newcomers' links only."""
    import search_index.network as network
    from bids.publishing import hide_bid

    before = network.field_map()
    newcomer = factory.org("Garden Newcomers")
    loner = factory.org("Lighthouse Keepers")
    joined = factory.bid(newcomer, title="Garden too", body=GARDEN, funder={"name": "New Fund"})
    alone = factory.bid(
        loner, title="Lamps", body="Oral histories of lighthouse keepers and their logbooks."
    )
    hidden = _kinship_bid(db, field[4])
    hide_bid(factory.user(admin=True), hidden, "Moderation test")
    db.session.commit()
    sizes: list[int] = []
    real = network.build_graph
    monkeypatch.setattr(
        network, "build_graph", lambda bids, *a, **k: sizes.append(len(bids)) or real(bids, *a, **k)
    )
    after = network.update_field_map(before, [joined.id, alone.id, hidden.id], db.session)
    assert sizes and max(sizes) < len(after.bids)  # never the whole map
    whole = real(after.bids, after.pairs, after.links, after.orgs)
    expected = network._follow_communities(before.communities, whole)
    assert [(c.id, c.members, c.name) for c in after.communities] == [
        (c.id, c.members, c.name) for c in expected
    ]
    assert set(after.orgs) == set(whole.nodes)
    community_of = after.community_of
    assert community_of[newcomer.id] == community_of[field[0].id]  # joined the gardens
    assert community_of[loner.id] not in {c.id for c in before.communities}  # one of its own
