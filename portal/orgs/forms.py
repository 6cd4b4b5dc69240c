"""Forms of the organisations area; `bids.organisations` validates for real."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField, URLField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from bids.fields import SUGGESTED_LOCATIONS
from bids.models import OrgKind, Role

KIND_LABELS = {
    OrgKind.APPLICANT: "Applicant: we apply for grants",
    OrgKind.FUNDER: "Funder: we award grants",
    OrgKind.COLLECTIVE: "Collective: a partnership of organisations",
    OrgKind.OTHER: "Other",
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OrganisationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Name is required."), Length(max=200)])
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()],
        default=OrgKind.APPLICANT.value,
    )
    identifier = StringField(
        "Organisation identifier (optional)",
        validators=[Length(max=100)],
        description="The org-id form used by 360Giving: country, register and number, "
        "e.g. GB-CHC-1164883 for a charity in England and Wales.",
        render_kw={"spellcheck": "false"},
    )
    website = URLField(
        "Website (optional)",
        validators=[Length(max=300)],
        description="Starting with https:// or http://.",
    )
    description = TextAreaField("About the organisation (optional)", validators=[Length(max=5000)])
    regions = MultiCheckboxField(
        "Where you work",
        choices=[SelectChoice(p, p) for p in SUGGESTED_LOCATIONS],
        validate_choice=True,
    )
    other_regions = StringField(
        "Other places (optional)",
        validators=[Length(max=2000)],
        description="Towns, counties or countries not listed above, separated by semicolons.",
    )

    def set_regions(self, regions: list[str]) -> None:
        self.regions.data = [r for r in regions if r in SUGGESTED_LOCATIONS]
        self.other_regions.data = "; ".join(r for r in regions if r not in SUGGESTED_LOCATIONS)

    def domain_data(self) -> dict:
        regions = list(self.regions.data or [])
        if self.other_regions.data:
            regions.append(self.other_regions.data)
        return {
            "name": self.name.data,
            "kind": self.kind.data,
            "identifier": self.identifier.data,
            "website": self.website.data,
            "description": self.description.data,
            "regions": "; ".join(regions),
        }


class InvitationForm(FlaskForm):
    role = SelectField(
        "Role of the person you invite",
        choices=[
            SelectChoice(Role.EDITOR.value, "Editor: publishes and edits bids"),
            SelectChoice(Role.OWNER.value, "Owner: also manages details and members"),
        ],
        default=Role.EDITOR.value,
    )


class ClaimForm(FlaskForm):
    message = TextAreaField(
        "How are you connected to this organisation? (optional)",
        validators=[Length(max=2000)],
        description="Your role and a way for the site's admins to check it, e.g. your work "
        "address.",
    )


class DecisionForm(FlaskForm):
    """Approve or refuse a claim: the button pressed is the decision (CSRF-protected)."""
