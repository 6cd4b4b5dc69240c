"""Stored and remembered figures (search_index/snapshots.py) equal freshly computed ones, and a
new bid, a hidden bid or a changed outcome is never answered from before the change."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from bids.insights import field_figures
from bids.models import Bid
from bids.publishing import hide_bid, record_outcome
from search_index import snapshots
from search_index.outbox import pending_count
from search_index.selection import matching_bids


@pytest.fixture
def field(factory, db):
    north, south = factory.org("North Group"), factory.org("South Group")
    bids = [
        factory.bid(north, status="awarded", amount_awarded="900", submitted_on="2021-02-01"),
        factory.bid(north, status="submitted", submitted_on="2022-03-01", themes=["arts"]),
        factory.bid(south, status="submitted", submitted_on="2023-04-01", currency="USD"),
        factory.bid(south, funder={"name": "South Trust"}, status="awarded", amount_awarded="5000"),
    ]
    owner = factory.user(org=north)
    admin = factory.user(admin=True)
    return {"north": north, "south": south, "bids": bids, "owner": owner, "admin": admin}


def min_decided(app) -> int:
    return int(app.config.get("INSIGHTS_MIN_DECIDED", 5))


def fresh(app) -> dict:
    return field_figures(None, min_decided=min_decided(app), tags=matching_bids("")[1])


def plain(value):
    return json.loads(json.dumps(value))


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def comparable(charts: dict) -> dict:
    """The charts as plain data, each SVG decoded and pygal's random chart id taken out."""
    out = plain({name: asdict(chart) for name, chart in charts.items()})
    for chart in out.values():
        if chart["svg"]:
            svg = base64.b64decode(chart["svg"].split(",", 1)[1]).decode("utf-8")
            chart["svg"] = UUID.sub("<id>", svg)
    return out


def test_stored_field_figures_equal_fresh_ones_and_are_shared_through_the_file(
    field, app, monkeypatch
):
    expected = fresh(app)
    assert snapshots.whole_field_figures(min_decided(app)) == expected
    assert (Path(app.config["INSTANCE_DIR"]) / "derived" / "field-figures.json").exists()
    snapshots.forget()  # another process: reads the file, computes nothing

    def no_computing(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr("bids.insights.field_figures", no_computing)
    assert snapshots.whole_field_figures(min_decided(app)) == expected


def _new_bid(field, factory, db):
    factory.bid(field["south"], status="awarded", amount_awarded="7000", currency="EUR")


def _hidden_bid(field, factory, db):
    hide_bid(field["admin"], field["bids"][0], "Spam")
    db.session.commit()


def _changed_outcome(field, factory, db):
    bid = db.session.get(Bid, field["bids"][1].id)
    record_outcome(field["owner"], bid, {"status": "awarded", "amount_awarded": "1200"})
    db.session.commit()


CHANGES = [_new_bid, _hidden_bid, _changed_outcome]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
def test_stored_field_figures_follow_every_change(field, app, factory, db, client, change):
    before = snapshots.whole_field_figures(min_decided(app))
    assert client.get("/api/v1/insights").get_json()["totals"] == before["totals"]
    change(field, factory, db)
    after = fresh(app)
    assert after != before
    assert snapshots.whole_field_figures(min_decided(app)) == after
    assert client.get("/api/v1/insights").get_json()["totals"] == plain(after["totals"])


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
def test_stored_field_charts_equal_freshly_drawn_ones(field, app, factory, db, change):
    from flask import request

    from portal.insights.charts import chart_tables
    from portal.insights.figures import charts_for

    def drawn() -> dict:
        with app.test_request_context("/insights"):
            return comparable(charts_for(request.args)[3])

    first = drawn()
    assert first == comparable(chart_tables(fresh(app)))
    snapshots.forget()
    assert drawn() == first  # read back from the file
    change(field, factory, db)
    again = drawn()
    assert again != first
    assert again == comparable(chart_tables(fresh(app)))


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
def test_remembered_profile_equals_the_fresh_one_after_every_change(
    field, app, factory, db, change
):
    from search_index.fellows import organisation_profile, remembered_profile

    north = field["north"]
    first = remembered_profile(north, min_decided=min_decided(app))
    assert first == organisation_profile(north, min_decided=min_decided(app))
    assert remembered_profile(north, min_decided=min_decided(app)) is first
    if change is _new_bid:
        factory.bid(north, status="declined", submitted_on="2020-01-01")
    else:
        change(field, factory, db)
    again = remembered_profile(north, min_decided=min_decided(app))
    assert again is not first and again != first
    assert again == organisation_profile(north, min_decided=min_decided(app))


def test_the_worker_computes_the_field_figures_once_the_outbox_is_drained(
    field, app, db, factory, monkeypatch
):
    from search_index.worker import run_worker

    path = Path(app.config["INSTANCE_DIR"]) / "derived" / "field-figures.json"
    path.unlink(missing_ok=True)
    app.config["INDEX_MODE"] = "worker"  # requests only record the index work
    factory.bid(factory.org("Late Collective"), title="A late garden")
    assert not path.exists()  # in a request: left to the worker (or the next page)
    run_worker(once=True, jobs=False)
    assert pending_count() == 0
    expected = fresh(app)
    assert path.exists()
    snapshots.forget()

    def no_computing(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr("bids.insights.field_figures", no_computing)
    assert snapshots.whole_field_figures(min_decided(app)) == expected


def test_network_page_is_drawn_again_when_the_data_changes(field, client, factory, db):
    page = client.get("/network").get_data(as_text=True)
    assert client.get("/network").get_data(as_text=True) == page  # the drawn view, kept
    newcomer = factory.org("Newcomer Collective")
    factory.bid(newcomer, title="A newcomer's garden")
    page = client.get("/network").get_data(as_text=True)
    assert "Newcomer Collective" in page
    hide_bid(field["admin"], Bid.query.filter_by(organisation_id=newcomer.id).one(), "Spam")
    db.session.commit()
    assert "Newcomer Collective" not in client.get("/network").get_data(as_text=True)


def test_the_figures_count_exactly_what_the_search_page_lists(field, app, db, factory):
    """Insights and the network map select bids with the search page's own matching: an
    exact-value clause is a filter (`funder:"Arts Council"` is not also Arts Council Wales,
    which a phrase in the funder field matched) and a wildcard reaches what search reaches."""
    from search_index.selection import matching_bid_ids
    from search_index.service import get_search_service

    maker = factory.org("Valley Makers")
    factory.bid(maker, title="Mural trail", funder={"name": "Arts Council"})
    factory.bid(maker, title="Choir tour", funder={"name": "Arts Council Wales"})
    service = get_search_service()
    for text in (
        'funder:"Arts Council"',
        "community",
        "arts OR neighbours",
        "neighbours together",
        "communit*",
        "mural NOT choir",
    ):
        listed = set(service.iter_bid_ids(None, text))
        assert matching_bid_ids(text) == listed, text
        assert listed, text
    (only,) = matching_bid_ids('funder:"Arts Council"')
    assert db.session.get(Bid, only).title == "Mural trail"
