"""Forms of the overlaps area: the draft check and the draft comparison."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional


class CheckForm(FlaskForm):
    title = StringField("Working title (optional)", validators=[Optional(), Length(max=300)])
    text = TextAreaField("Paste your draft", validators=[Optional()], render_kw={"rows": 12})
    file = FileField("Or upload it as a PDF", render_kw={"accept": "application/pdf"})


class CompareDraftForm(FlaskForm):
    """The checked draft's text, carried to the comparison page (still not stored)."""

    title = HiddenField()
    text = HiddenField()
