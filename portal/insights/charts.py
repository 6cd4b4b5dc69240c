"""The insights charts: pygal SVG with a finding for alt text and the table behind each.

Each chart is shown as an `<img>` of a `data:` SVG (allowed by the CSP's `img-src data:`),
so pygal's own stylesheet applies inside the image and no script runs. The table of the
numbers is the same `rows` the CSV download writes.
"""

from __future__ import annotations

import base64
import itertools
import sys
from dataclasses import dataclass, field
from typing import Any

import pygal
from pygal.style import Style

# pygal appends a finder without `find_spec` to sys.meta_path (for its map plugins, unused
# here); every later failed import then raises ImportWarning, an error under our pytest
# settings. Take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

from bids.insights import AMOUNT_BINS, OUTCOMES  # noqa: E402  (after the meta_path cleanup above)

# Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies.
OKABE_ITO = (
    "#0072B2",
    "#D55E00",
    "#E69F00",
    "#999999",
    "#CC79A7",
    "#009E73",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
OUTCOME_COLOURS = {
    "awarded": "#0072B2",
    "declined": "#D55E00",
    "submitted": "#E69F00",
    "withdrawn": "#999999",
    "draft": "#CC79A7",
}
OUTCOME_LABELS = {
    "awarded": "Awarded",
    "declined": "Declined",
    "submitted": "Awaiting decision",
    "withdrawn": "Withdrawn",
    "draft": "Not yet submitted",
}
TOP_BARS = 10


@dataclass
class Chart:
    name: str
    title: str
    finding: str
    columns: list[str]
    rows: list[list[Any]]
    svg: str | None = None  # a data: URI, or None when there is nothing to draw
    notes: list[str] = field(default_factory=list)


def _style(colours=OKABE_ITO) -> Style:
    return Style(
        colors=tuple(colours),
        background="white",
        plot_background="white",
        foreground="#1f1f1f",
        foreground_strong="#1f1f1f",
        foreground_subtle="#555555",
        font_family="system-ui, sans-serif",
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=13,
        title_font_size=16,
    )


def _config(**extra) -> dict:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "width": 760,
        "height": 360,
        "legend_at_bottom": True,
        "explicit_size": False,
        "show_minor_x_labels": True,
        "truncate_label": 40,
        "truncate_legend": 40,
        **extra,
    }


def _count_axis(most: int) -> dict:
    """A counting axis: whole numbers only, in steps of 1, 2 or 5 times a power of ten, at most
    eight steps (left to itself pygal marks a count of 2 as 0, 0.2, 0.4 ...)."""
    most = max(1, most)
    step, factors = 1, itertools.cycle((2, 2.5, 2))  # 1, 2, 5, 10, 20, 50, ...
    while most / step > 8:
        step = int(step * next(factors))
    top = -(-most // step) * step
    return {"y_labels": list(range(0, top + 1, step)), "range": (0, top)}


def _data_uri(chart) -> str:
    svg = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def years_chart(figures: dict) -> Chart:
    years = figures["years"]
    outcomes = [o for o in OUTCOMES if any(y["outcomes"].get(o) for y in years)]
    rows = [[y["year"], *[y["outcomes"].get(o, 0) for o in outcomes], y["bids"]] for y in years]
    if years:
        busiest = max(years, key=lambda y: (y["bids"], y["year"]))
        finding = (
            f"Bids by year of submission (or decision), {years[0]['year']} to "
            f"{years[-1]['year']}: most in {busiest['year']} ({busiest['bids']})."
        )
    else:
        finding = "No bids with a submitted or decided date match."
    undated = figures["undated"]["bids"]
    chart = Chart(
        "years",
        "Bids per year by outcome",
        finding,
        ["Year", *[OUTCOME_LABELS[o] for o in outcomes], "Total"],
        rows,
        notes=[
            f"{undated} bid{'s' if undated != 1 else ''} without a submitted or "
            f"decided date {'are' if undated != 1 else 'is'} not shown."
        ]
        if undated
        else [],
    )
    if years:
        bar = pygal.StackedBar(
            style=_style([OUTCOME_COLOURS[o] for o in outcomes]),
            **_config(
                title=chart.title,
                x_title="Year",
                y_title="Bids",
                **_count_axis(max(y["bids"] for y in years)),
            ),
        )
        bar.x_labels = [y["year"] for y in years]
        for o in outcomes:
            bar.add(OUTCOME_LABELS[o], [y["outcomes"].get(o, 0) for y in years])
        chart.svg = _data_uri(bar)
    return chart


def success_chart(figures: dict) -> Chart:
    min_decided = figures["min_decided"]
    funders = figures["funders"]
    rows = [
        [f["funder"]["name"], f["bids"], f["decided"], f["awarded"], _percent(f["success_rate"])]
        for f in funders
    ]
    rated = sorted(
        (f for f in funders if f["success_rate"] is not None),
        key=lambda f: (-f["success_rate"], -f["decided"]),
    )[:TOP_BARS]
    if rated:
        best = rated[0]
        finding = (
            f"Success rate (awarded of decided bids) by funder: highest "
            f"{best['funder']['name']} at {_percent(best['success_rate'])} of "
            f"{best['decided']} decided."
        )
    else:
        finding = (
            f"No funder has {min_decided} or more decided bids here, so no success rate is shown."
        )
    chart = Chart(
        "success",
        "Success rate by funder",
        finding,
        ["Funder", "Bids", "Decided", "Awarded", "Success rate"],
        rows,
        notes=[
            f"Rates are shown only where at least {min_decided} bids were decided "
            f"(awarded or declined)."
        ],
    )
    if rated:
        bar = pygal.HorizontalBar(
            style=_style(),
            **_config(
                title=chart.title, show_legend=False, range=(0, 100), x_title="% of decided bids"
            ),
        )
        bar.x_labels = [f["funder"]["name"] for f in reversed(rated)]
        bar.add("Success rate", [round(f["success_rate"] * 100, 1) for f in reversed(rated)])
        chart.svg = _data_uri(bar)
    return chart


def amounts_chart(figures: dict) -> Chart:
    by_currency = figures["amounts_requested"]
    currencies = list(by_currency)
    labels = [label for label, _, _ in AMOUNT_BINS]
    rows = [
        [label, *[next(b["bids"] for b in by_currency[c] if b["bin"] == label) for c in currencies]]
        for label in labels
    ]
    if currencies:
        main = max(currencies, key=lambda c: sum(b["bids"] for b in by_currency[c]))
        top_bin = max(by_currency[main], key=lambda b: b["bids"])
        finding = (
            f"Amounts requested, log-scaled bands: most {main} bids ask for "
            f"{top_bin['bin']} ({top_bin['bids']})."
        )
    else:
        finding = "No bids with an amount requested match."
    chart = Chart(
        "amounts",
        "Amounts requested",
        finding,
        ["Amount band", *currencies],
        rows,
        notes=["Each currency is counted on its own; amounts are never added across currencies."],
    )
    if currencies:
        bar = pygal.Bar(
            style=_style(),
            **_config(
                title=chart.title,
                x_title="Amount requested",
                y_title="Bids",
                x_label_rotation=30,
                **_count_axis(max(b["bids"] for c in currencies for b in by_currency[c])),
            ),
        )
        bar.x_labels = labels
        for c in currencies:
            bar.add(
                c,
                [next(b["bids"] for b in by_currency[c] if b["bin"] == label) for label in labels],
            )
        chart.svg = _data_uri(bar)
    return chart


def _top_chart(name: str, title: str, noun: str, items: list[tuple[str, int]]) -> Chart:
    rows = [[label, n] for label, n in items]
    if items:
        finding = (
            f"{title}: {items[0][0]} leads with {items[0][1]} bid{'s' if items[0][1] != 1 else ''}."
        )
    else:
        finding = f"No {noun} to show."
    chart = Chart(name, title, finding, [noun.capitalize(), "Bids"], rows)
    if items:
        shown = items[:TOP_BARS]
        bar = pygal.HorizontalBar(
            style=_style(),
            **_config(
                title=title,
                show_legend=False,
                x_title="Bids",
                **_count_axis(max(n for _, n in shown)),
            ),
        )
        bar.x_labels = [label for label, _ in reversed(shown)]
        bar.add("Bids", [n for _, n in reversed(shown)])
        chart.svg = _data_uri(bar)
    return chart


def themes_chart(figures: dict) -> Chart:
    return _top_chart(
        "themes", "Top themes", "theme", [(t["name"], t["bids"]) for t in figures["themes"]]
    )


def funders_chart(figures: dict) -> Chart:
    return _top_chart(
        "funders",
        "Top funders",
        "funder",
        [(f["funder"]["name"], f["bids"]) for f in figures["funders"]],
    )


def organisations_chart(figures: dict) -> Chart:
    return _top_chart(
        "organisations",
        "Top organisations",
        "organisation",
        [(o["organisation"]["name"], o["bids"]) for o in figures["organisations"]],
    )


def awards_table(figures: dict) -> Chart:
    rows = []
    for f in figures["funders"]:
        for currency, q in f["typical_award"].items():
            if q:
                rows.append([f["funder"]["name"], currency, q["n"], q["q1"], q["median"], q["q3"]])
    finding = (
        "Typical award by funder: median and quartiles of amounts awarded, per currency."
        if rows
        else "No awarded amounts match."
    )
    return Chart(
        "awards",
        "Typical award by funder",
        finding,
        ["Funder", "Currency", "Awards", "Lower quartile", "Median", "Upper quartile"],
        rows,
    )


def programmes_table(figures: dict) -> Chart:
    rows = [
        [
            p["programme"],
            p["funder"]["name"] if p["funder"] else "",
            p["bids"],
            p["decided"],
            p["awarded"],
            _percent(p["success_rate"]),
        ]
        for p in figures["programmes"]
    ]
    return Chart(
        "programmes",
        "Success rate by programme",
        "Success rate by programme, with the counts it rests on."
        if rows
        else "No bids name a programme.",
        ["Programme", "Funder", "Bids", "Decided", "Awarded", "Success rate"],
        rows,
    )


def year_success_table(figures: dict) -> Chart:
    rows = [
        [y["year"], y["bids"], y["decided"], y["awarded"], _percent(y["success_rate"])]
        for y in figures["years"]
    ]
    return Chart(
        "year-success",
        "Success rate by year",
        "Success rate by year, with the counts it rests on." if rows else "No dated bids match.",
        ["Year", "Bids", "Decided", "Awarded", "Success rate"],
        rows,
    )


def locations_table(figures: dict) -> Chart:
    rows = [[loc["name"], loc["bids"]] for loc in figures["locations"]]
    return Chart(
        "locations",
        "Locations",
        "Bids by the places they name." if rows else "No bids name a place.",
        ["Location", "Bids"],
        rows,
    )


BUILDERS = {
    "years": years_chart,
    "success": success_chart,
    "amounts": amounts_chart,
    "themes": themes_chart,
    "funders": funders_chart,
    "organisations": organisations_chart,
    "awards": awards_table,
    "programmes": programmes_table,
    "year-success": year_success_table,
    "locations": locations_table,
}
DRAWN = ("years", "success", "amounts", "themes", "funders", "organisations")


def chart_tables(figures: dict, names=None) -> dict[str, Chart]:
    return {name: BUILDERS[name](figures) for name in (names or BUILDERS)}
