"""/insights: the charts and tables of any search, and a CSV of each chart's numbers."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, render_template, request, url_for

from portal.insights import bp
from portal.insights.charts import BUILDERS, DRAWN, chart_tables
from portal.insights.figures import charts_for, charts_of, figures_for, min_decided
from portal.insights.places import place_tiles
from portal.search_args import search_args


def safe_cell(value) -> object:
    """Spreadsheets run cells starting with = + - @ as formulas: neutralise them."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@bp.get("/insights")
def insights():
    q, filters, figures, charts = charts_for(request.args)
    return render_template(
        "insights/index.html",
        q=q,
        figures=figures,
        charts=charts,
        drawn=DRAWN,
        tiles=place_tiles(figures["locations"]),
        args=search_args(),
        search_link=url_for("search.search", **search_args()),
        network_link=url_for("network.index", **search_args()),
    )


@bp.get("/insights/<name>.csv")
def chart_csv(name: str):
    if name not in BUILDERS:
        abort(404)
    _, _, figures = figures_for(request.args)
    chart = chart_tables(figures, [name])[name]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(chart.columns)
    for row in chart.rows:
        writer.writerow([safe_cell(v) for v in row])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="open-bids-{name}.csv"'},
    )


@bp.get("/orgs/<slug>/profile")
def profile(slug: str):
    """An organisation's figures, fellow travellers, co-funders and neighbourhood map."""
    from bids.organisations import get_organisation_by_slug
    from portal.drawing import HEIGHT, WIDTH, community_colour, draw
    from search_index.fellows import remembered_profile as organisation_profile
    from search_index.field_graph import neighbourhood
    from search_index.network import field_map

    raw_depth = request.args.get("depth", "1")
    if raw_depth not in ("1", "2"):
        abort(400, "`depth` must be 1 or 2.")
    org = get_organisation_by_slug(slug)
    data = organisation_profile(org, min_decided=min_decided())
    fmap = field_map()
    community_of = fmap.community_of
    hood = neighbourhood(fmap.graph(), org.id, depth=int(raw_depth))
    shapes, lines = draw(
        hood,
        colour_of=lambda n: community_colour(community_of.get(n)),
        href_of=lambda n: url_for("insights.profile", slug=hood.nodes[n]["slug"]),
        title_of=lambda n: hood.nodes[n]["name"],
        size_of=lambda n: hood.degree(n, weight="weight") + 1,
        square_of=lambda n: hood.nodes[n]["kind"] == "funder",
        pos=fmap.layout_of(("profile", org.id, int(raw_depth)), hood),
    )
    charts = {}
    for side in ("sent", "received"):
        if data[side]:
            charts[side] = charts_of(
                data[side],
                [
                    "years",
                    "success",
                    "awards",
                    "programmes",
                    "themes",
                    "locations",
                    "funders",
                    "organisations",
                ],
            )
    return render_template(
        "insights/profile.html",
        org=org,
        profile=data,
        charts=charts,
        shapes=shapes,
        lines=lines,
        width=WIDTH,
        height=HEIGHT,
        depth=int(raw_depth),
        hood=hood,
    )
