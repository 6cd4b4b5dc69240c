"""The network map: edges and communities on small fixtures, the cache, the routes, the command."""

from __future__ import annotations

import io

import networkx as nx
import pytest

from search_index.network import (
    BidEnds,
    OrgInfo,
    build_graph,
    community_graph,
    find_communities,
    layout,
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


def test_a_large_map_is_not_rebuilt_by_a_page(field, app, factory):
    from search_index import sync
    from search_index.network import field_map

    first = field_map()
    app.config["NETWORK_INLINE_MAX"] = 0  # every map counts as large
    factory.bid(field[0], title="Another garden", body=GARDEN)
    sync()
    assert field_map() is first  # the last map, until `network refresh`
    app.config["NETWORK_INLINE_MAX"] = 5000
    assert field_map() is not first
