"""A laid-out graph as SVG shapes for the template: circles for applicants, squares for funders,
coloured by community, every node a link. Presentation attributes only (the CSP allows no
inline styles), and each shape has a <title>."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from search_index.field_graph import layout

# Okabe & Ito: distinguishable with the common colour-vision deficiencies; beyond, grey.
COMMUNITY_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
OTHER_COLOUR = "#BBBBBB"
WIDTH, HEIGHT, MARGIN = 900, 600, 40


def community_colour(cid: int | None) -> str:
    if not cid or cid > len(COMMUNITY_COLOURS):
        return OTHER_COLOUR
    return COMMUNITY_COLOURS[cid - 1]


@dataclass
class Shape:
    id: int
    x: float
    y: float
    r: float
    fill: str
    square: bool
    label: str
    title: str
    href: str
    show_label: bool

    @property
    def label_left(self) -> bool:
        """Labels of nodes near the right edge go to their left, so they stay in the map."""
        return self.x > WIDTH * 0.7


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    dashed: bool


def _xy(p: tuple[float, float]) -> tuple[float, float]:
    return (
        round(MARGIN + p[0] * (WIDTH - 2 * MARGIN), 1),
        round(MARGIN + p[1] * (HEIGHT - 2 * MARGIN), 1),
    )


def draw(
    graph: nx.Graph, *, colour_of, href_of, title_of, size_of, square_of, labels: int = 25, pos=None
) -> tuple[list[Shape], list[Line]]:
    pos = pos if pos is not None else layout(graph)
    biggest = sorted(graph.nodes, key=lambda n: (-size_of(n), n))[:labels]
    most = max((size_of(n) for n in graph.nodes), default=1) or 1
    shapes = []
    for node in sorted(graph.nodes):
        x, y = _xy(pos[node])
        shapes.append(
            Shape(
                node,
                x,
                y,
                round(5 + 13 * (size_of(node) / most) ** 0.5, 1),
                colour_of(node),
                square_of(node),
                graph.nodes[node].get("name", ""),
                title_of(node),
                href_of(node),
                node in biggest,
            )
        )
    heaviest = max((d.get("weight", 1) for _, _, d in graph.edges(data=True)), default=1) or 1
    lines = []
    for a, b, data in graph.edges(data=True):
        (x1, y1), (x2, y2) = _xy(pos[a]), _xy(pos[b])
        lines.append(
            Line(
                x1,
                y1,
                x2,
                y2,
                round(0.6 + 3.4 * data.get("weight", 1) / heaviest, 2),
                dashed=not data.get("overlap") and not data.get("lineage"),
            )
        )
    return shapes, lines
