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
    label_x: float = 0.0
    label_y: float = 0.0
    label_anchor: str = "start"  # SVG text-anchor: start (right of the node), end, middle


# Labels: 12 px text; its box estimated from the characters (a DejaVu/Liberation sans letter
# averages about 0.55 em), enough to keep two labels or a label and a node from overlapping.
LABEL_CHARS = 32
CHAR_WIDTH, LABEL_HEIGHT, LABEL_GAP = 6.6, 14.0, 3.0

Box = tuple[float, float, float, float]  # left, top, right, bottom


def _label_text(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1].rstrip() + "…"


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label_options(shape: Shape) -> list[tuple[str, float, float, Box]]:
    """Where a node's label may go, in order of preference (right, left, above, below, then
    the four corners): anchor, x and y of the baseline, and the box the text covers."""
    width = len(shape.label) * CHAR_WIDTH
    x, y, r = shape.x, shape.y, shape.r
    right, left = x + r + LABEL_GAP, x - r - LABEL_GAP
    above, below = y - r - LABEL_GAP, y + r + LABEL_GAP + LABEL_HEIGHT - 3
    middle = y + 4
    corner_right, corner_left = x + r * 0.7, x - r * 0.7
    places = [
        ("start", right, middle),
        ("end", left, middle),
        ("middle", x, above),
        ("middle", x, below),
        ("start", corner_right, above),
        ("end", corner_left, above),
        ("start", corner_right, below),
        ("end", corner_left, below),
    ]
    out = []
    for anchor, bx, by in places:
        start = {"start": bx, "end": bx - width, "middle": bx - width / 2}[anchor]
        out.append((anchor, bx, by, (start, by - LABEL_HEIGHT + 3, start + width, by + 3)))
    return out


def place_labels(shapes: list[Shape], wanted: list[int]) -> None:
    """Give the nodes in `wanted` (most important first) a label where it overlaps no node and
    no label already placed and stays inside the map; a label with no such place is not shown
    (the node keeps its <title>, and the lists below the map name every organisation)."""
    by_id = {s.id: s for s in shapes}
    taken: list[Box] = [(s.x - s.r, s.y - s.r, s.x + s.r, s.y + s.r) for s in shapes]
    for node in wanted:
        shape = by_id[node]
        shape.show_label = False
        if not shape.label:
            continue
        for anchor, x, y, box in _label_options(shape):
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= WIDTH and box[3] <= HEIGHT
            if inside and not any(_overlaps(box, other) for other in taken):
                shape.show_label = True
                shape.label_anchor, shape.label_x, shape.label_y = anchor, x, y
                taken.append(box)
                break


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
                _label_text(graph.nodes[node].get("name", "")),
                title_of(node),
                href_of(node),
                False,
            )
        )
    place_labels(shapes, biggest)
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
