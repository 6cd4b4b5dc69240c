"""Forms of the bids area.

WTForms renders the fields and checks the CSRF token; the bid rules themselves
live in `bids.fields.clean_bid_fields`, reached through the publishing services.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields import SelectChoice

from bids.fields import LICENCES, currency_codes
from bids.models import BidStatus, LinkKind


def choices(pairs) -> list[SelectChoice]:
    """WTForms' choice objects from (value, label) pairs or bare values."""
    return [SelectChoice(*p) if isinstance(p, tuple) else SelectChoice(p, p) for p in pairs]


STATUS_CHOICES = [
    (BidStatus.DRAFT.value, "Not yet sent to the funder"),
    (BidStatus.SUBMITTED.value, "Submitted, awaiting a decision"),
    (BidStatus.AWARDED.value, "Awarded"),
    (BidStatus.DECLINED.value, "Declined"),
    (BidStatus.WITHDRAWN.value, "Withdrawn"),
]
OUTCOME_CHOICES = [c for c in STATUS_CHOICES if c[0] != BidStatus.DRAFT]
LINK_CHOICES = [
    (LinkKind.RESUBMISSION_OF.value, "This bid is a resubmission of"),
    (LinkKind.ALSO_SENT_TO.value, "This bid was also sent to the funder of"),
]
LINK_LABELS = {
    LinkKind.RESUBMISSION_OF.value: ("Resubmission of", "Resubmitted as"),
    LinkKind.ALSO_SENT_TO.value: ("Also sent to the funder of", "Also sent as"),
}

# Form field name -> key used by `clean_bid_fields` (errors are mapped back the same way).
FIELD_KEYS = {
    "title": "title",
    "summary": "summary",
    "body": "body",
    "funder_name": "funder",
    "programme": "programme",
    "amount_requested": "amount_requested",
    "currency": "currency",
    "duration_months": "duration_months",
    "submitted_on": "submitted_on",
    "themes": "themes",
    "locations": "locations",
    "licence": "licence",
    "identifier": "identifier",
    "source_url": "url",
    "status": "status",
}


class BidForm(FlaskForm):
    # Domain key -> field, for `portal.forms.apply_errors` (decided_on is checked with
    # submitted_on).
    ERROR_FIELDS = {key: name for name, key in FIELD_KEYS.items()} | {"decided_on": "submitted_on"}

    organisation = SelectField("Organisation", coerce=int)
    title = StringField("Title", render_kw={"maxlength": 300, "required": True})
    summary = TextAreaField("Summary", render_kw={"rows": 4})
    body = TextAreaField("Bid text (Markdown)", render_kw={"class": "body-source", "rows": 20})
    funder_name = StringField("Funder", render_kw={"maxlength": 200})
    funder_identifier = StringField("Funder's organisation identifier (optional)")
    programme = StringField("Programme", render_kw={"maxlength": 200})
    amount_requested = StringField("Amount requested", render_kw={"inputmode": "decimal"})
    currency = SelectField("Currency", default="GBP")
    duration_months = StringField(
        "Duration in months",
        render_kw={"inputmode": "numeric", "type": "number", "min": 1, "max": 240},
    )
    submitted_on = StringField("Submitted on", render_kw={"type": "date"})
    status = SelectField(
        "Status", choices=choices(STATUS_CHOICES), default=BidStatus.SUBMITTED.value
    )
    themes = StringField("Themes")
    locations = StringField("Locations", render_kw={"list": "location-suggestions"})
    licence = SelectField("Licence", choices=choices(LICENCES.items()), default="CC-BY-4.0")
    identifier = StringField("Identifier (optional)", render_kw={"maxlength": 200})
    source_url = StringField(
        "Address of the original (optional)", render_kw={"type": "url", "maxlength": 500}
    )
    note = StringField("What changed (optional)", render_kw={"maxlength": 300})

    preview = SubmitField("Preview")
    save_draft = SubmitField("Save as private draft")
    publish = SubmitField("Publish")
    save = SubmitField("Save changes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency.choices = choices(currency_codes())

    def bid_data(self) -> dict:
        """The raw input in the shape `clean_bid_fields` reads."""
        data = {key: self[name].data for name, key in FIELD_KEYS.items() if name in self}
        funder = (self.funder_name.data or "").strip()
        data["funder"] = (
            {"name": funder, "identifier": self.funder_identifier.data} if funder else None
        )
        return data


class OutcomeForm(FlaskForm):
    status = SelectField("Outcome", choices=choices(OUTCOME_CHOICES))
    amount_awarded = StringField("Amount awarded", render_kw={"inputmode": "decimal"})
    decided_on = StringField("Decided on", render_kw={"type": "date"})
    note = StringField("Note (optional)", render_kw={"maxlength": 300})
    submit = SubmitField("Record outcome")


class UploadForm(FlaskForm):
    file = FileField("PDF file", render_kw={"accept": "application/pdf,.pdf"})
    submit = SubmitField("Upload")


class LinkForm(FlaskForm):
    kind = SelectField("Relation", choices=choices(LINK_CHOICES))
    target = StringField("Other bid: identifier or address", render_kw={"maxlength": 500})
    submit = SubmitField("Record link")


class HideForm(FlaskForm):
    reason = TextAreaField("Reason (the organisation will read it)", render_kw={"rows": 3})
    submit = SubmitField("Hide this bid")


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token (remove a link, restore a bid)."""

    submit = SubmitField("Confirm")
