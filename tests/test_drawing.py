"""The network map's drawing: labels placed where they overlap no node and no other label."""

from __future__ import annotations

import networkx as nx

from portal.drawing import HEIGHT, WIDTH, _label_options, _overlaps, draw


def _drawn(names: dict[int, str], pos: dict[int, tuple[float, float]]):
    graph = nx.Graph()
    for node, name in names.items():
        graph.add_node(node, name=name)
    shapes, _ = draw(
        graph,
        colour_of=lambda n: "#000000",
        href_of=lambda n: f"/orgs/{n}",
        title_of=lambda n: names[n],
        size_of=lambda n: 1,
        square_of=lambda n: False,
        pos=pos,
    )
    return {s.id: s for s in shapes}


def _label_box(shape):
    """The box of the place `place_labels` chose for the shape's label."""
    chosen = (shape.label_anchor, shape.label_x, shape.label_y)
    return next(box for *place, box in _label_options(shape) if tuple(place) == chosen)


def test_labels_of_nodes_side_by_side_do_not_overlap():
    # Two nodes 10 px apart on one line: both labels to the right would cover each other.
    shapes = _drawn(
        {1: "Kinship Scotland Network", 2: "The Relationships Project"},
        {1: (0.30, 0.50), 2: (0.312, 0.505)},
    )
    assert all(s.show_label for s in shapes.values())
    boxes = [_label_box(s) for s in shapes.values()]
    assert not _overlaps(*boxes)
    for shape in shapes.values():  # nor any node
        for other in shapes.values():
            node = (other.x - other.r, other.y - other.r, other.x + other.r, other.y + other.r)
            assert not _overlaps(_label_box(shape), node)


def test_a_label_near_the_right_edge_goes_to_the_left_and_stays_in_the_map():
    shape = _drawn({1: "The National Lottery Community Fund"}, {1: (1.0, 0.5)})[1]
    assert shape.show_label and shape.label_anchor == "end"
    left, top, right, bottom = _label_box(shape)
    assert left >= 0 and right <= WIDTH and top >= 0 and bottom <= HEIGHT
    assert shape.label.endswith("…") and len(shape.label) <= 32  # long names are cut


def test_a_label_with_no_free_place_is_left_out():
    # A node boxed in by four neighbours on every side has nowhere to put its label.
    centre = (0.5, 0.5)
    dx, dy = 14 / (WIDTH - 80), 14 / (HEIGHT - 80)
    pos = {
        1: centre,
        2: (0.5 + dx, 0.5),
        3: (0.5 - dx, 0.5),
        4: (0.5, 0.5 - dy),
        5: (0.5, 0.5 + dy),
    }
    shapes = _drawn({n: f"Organisation {n}" for n in pos}, pos)
    assert not shapes[1].show_label
