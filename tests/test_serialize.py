"""bids.serialize: the JSON shape of bids shared by the API, exports, similarity and pools."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from bids.models import Attachment, ExtractionStatus
from bids.serialize import (
    ITEM_FIELDS,
    attachment_item,
    bid_detail,
    bid_item,
    bid_text,
    iso_datetime,
    money_number,
)


def test_money_is_a_json_number_not_a_string():
    assert money_number(None) is None
    assert money_number(Decimal("300000.00")) == 300000
    assert isinstance(money_number(Decimal("300000.00")), int)
    assert money_number(Decimal("1250.50")) == 1250.5
    assert json.dumps(money_number(Decimal("0.10"))) == "0.1"


def test_datetimes_are_utc_with_z():
    assert iso_datetime(None) is None
    assert iso_datetime(datetime(2025, 3, 4, 5, 6, 7, 890)) == "2025-03-04T05:06:07Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso_datetime(datetime(2025, 3, 4, 7, 6, 7, tzinfo=plus_two)) == "2025-03-04T05:06:07Z"
    assert iso_datetime(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)) == "2025-03-04T05:06:07Z"


def _bid(factory):
    org = factory.org("Glasgow Kitchens", org_identifier="GB-SC-SC012345")
    return factory.bid(
        org,
        title="Shared tables",
        summary="Meals that bring people together.",
        body="# Plan\n\nWe *cook* with <b>neighbours</b> & friends.",
        funder={"name": "Robertson Trust", "identifier": "GB-SC-SC002970"},
        amount_requested="12500.50",
        amount_awarded="",
        currency="EUR",
        submitted_on="2024-05-01",
        themes=["food", "loneliness"],
        locations=["Scotland"],
    )


def test_item_has_the_documented_fields_and_types(app, factory):
    bid = _bid(factory)
    with app.test_request_context("/", base_url="https://openbids.example"):
        item = bid_item(bid)
    assert tuple(item) == ITEM_FIELDS
    assert item["organisation"] == {"name": "Glasgow Kitchens", "identifier": "GB-SC-SC012345"}
    assert item["funder"] == {"name": "Robertson Trust", "identifier": "GB-SC-SC002970"}
    assert item["amount_requested"] == 12500.5 and item["amount_awarded"] is None
    assert item["currency"] == "EUR"
    assert item["submitted_on"] == "2024-05-01"
    assert item["status"] == "draft" and item["visibility"] == "published"
    assert item["url"] == f"https://openbids.example/bids/{bid.id}"
    json.dumps(item)  # plain JSON values only


def test_detail_text_attachments_and_revisions(app, db, factory):
    bid = _bid(factory)
    attachment = Attachment(
        bid=bid,
        filename="plan.pdf",
        size=1234,
        sha256="ab" * 32,
        pages=3,
        text="Budget and timeline from the PDF.",
        extraction_status=ExtractionStatus.OK,
        extraction_message="Text extracted.",
    )
    db.session.add(attachment)
    db.session.commit()
    with app.test_request_context("/"):
        detail = bid_detail(bid)
        assert attachment_item(attachment)["url"] == (
            f"http://localhost/bids/{bid.id}/attachments/{attachment.id}/plan.pdf"
        )
    # Markdown becomes plain text (no tags, entities decoded), followed by the PDF's text.
    assert detail["text"] == (
        "Plan\nWe cook with neighbours & friends.\n\nBudget and timeline from the PDF."
    )
    assert detail["body"].startswith("# Plan")
    assert detail["themes"] == ["food", "loneliness"] and detail["locations"] == ["Scotland"]
    assert detail["licence"] == "CC-BY-4.0"
    assert detail["attachments"] == [
        {
            "id": attachment.id,
            "filename": "plan.pdf",
            "size": 1234,
            "pages": 3,
            "sha256": "ab" * 32,
            "status": "ok",
            "message": "Text extracted.",
            "url": f"http://localhost/bids/{bid.id}/attachments/{attachment.id}/plan.pdf",
        }
    ]
    assert [r["number"] for r in detail["revisions"]] == [1]
    assert detail["revisions"][0]["note"] == "Published"
    for key in ("created_at", "updated_at", "published_at"):
        assert detail[key].endswith("Z")
        datetime.fromisoformat(detail[key].removesuffix("Z"))
    json.dumps(detail)


def test_outside_a_request_urls_are_none_but_the_rest_is_there(app, factory):
    bid = _bid(factory)
    item = bid_item(bid)  # app context only, no SERVER_NAME
    assert item["url"] is None
    assert item["title"] == "Shared tables"
    app.config["SERVER_NAME"] = "openbids.example"
    with app.app_context():  # a CLI job with SERVER_NAME set can build links
        assert bid_item(bid)["url"] == f"http://openbids.example/bids/{bid.id}"


def test_text_without_attachments_is_the_body_alone(factory):
    bid = _bid(factory)
    assert bid_text(bid) == "Plan\nWe cook with neighbours & friends."
    assert date.fromisoformat(bid_item(bid)["submitted_on"]) == date(2024, 5, 1)
