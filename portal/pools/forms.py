"""Forms of the funders' pool area; `bids.pools.services` validates for real."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class PoolForm(FlaskForm):
    funder = SelectField("Owned by", coerce=int)
    name = StringField("Name", validators=[DataRequired("Name the pool."), Length(max=200)])
    purpose = TextAreaField("Purpose", validators=[Length(max=5000)])
    themes = StringField(
        "Themes", description="Separated by semicolons, e.g. loneliness; older people."
    )
    geographies = StringField(
        "Places", description="Separated by semicolons, e.g. Scotland; Wales."
    )
    share_pledges_with_applicants = BooleanField(
        "Show our pledges to the applicant organisation on its own bids"
    )


class InviteForm(FlaskForm):
    organisation = SelectField("Funder to invite", coerce=int)
    message = TextAreaField("Message (optional)", validators=[Length(max=2000)])


class HandOverForm(FlaskForm):
    organisation = SelectField("New owner", coerce=int)


class ActionForm(FlaskForm):
    """A button-only form: CSRF token and nothing else."""


class PledgeForm(FlaskForm):
    bid_id = HiddenField()
    cluster_id = HiddenField()
    amount = StringField("Amount (leave empty to mark interest)", validators=[Length(max=30)])
    currency = StringField(
        "Currency",
        validators=[Length(max=3)],
        default="GBP",
        description="ISO 4217 code, the same as the bid's.",
    )
    note = TextAreaField("Note to other members (optional)", validators=[Length(max=2000)])


class IntroductionForm(FlaskForm):
    first = HiddenField()
    second = HiddenField()
    cluster = HiddenField()
    message = TextAreaField("Why these organisations should talk", validators=[Length(max=2000)])


class ProgrammeForm(FlaskForm):
    funder = SelectField("Funder", coerce=int)
    name = StringField("Name", validators=[DataRequired("Name the programme."), Length(max=200)])
    description = TextAreaField("Description", validators=[Length(max=5000)])
    themes = StringField("Themes", description="Separated by semicolons.")
    nations = StringField("Nations", description="e.g. England; Wales.")
    opens_on = DateField("Opens on", validators=[Optional()])
    closes_on = DateField("Closes on", validators=[Optional()])
    currency = StringField("Currency", default="GBP", validators=[Length(max=3)])
    typical_award_min = StringField("Typical award from", validators=[Length(max=30)])
    typical_award_max = StringField("Typical award up to", validators=[Length(max=30)])
    budget = StringField("Budget", validators=[Length(max=30)])
