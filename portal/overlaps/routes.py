"""Routes of the overlaps area: the draft check and the side-by-side comparison."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from bids.access import get_visible_bid
from bids.attachments import read_pdf_upload
from bids.errors import DomainError
from portal.overlaps import bp
from portal.overlaps.forms import CheckForm, CompareDraftForm
from search_index import similarity
from search_index.similarity import readable_text


@bp.route("/check", methods=["GET", "POST"])
def check():
    form = CheckForm()
    matches, checked, problem = None, None, None
    if form.validate_on_submit():
        text = form.text.data or ""
        upload = form.file.data
        if upload and getattr(upload, "filename", ""):
            try:
                extracted = read_pdf_upload(upload)
            except DomainError as exc:
                problem = str(exc)
            else:
                if extracted.ok:
                    text = extracted.text
                else:
                    problem = extracted.message
        if problem is None:
            problem = similarity.check_text_length(text)
        if problem is None:
            matches = similarity.similar_to_text(current_user, text, title=form.title.data or "")
            checked = CompareDraftForm(formdata=None, title=form.title.data or "", text=text)
    status = 422 if problem else 200
    return render_template(
        "overlaps/check.html", form=form, matches=matches, problem=problem, checked=checked
    ), status


@bp.route("/compare/<int:a_id>/<int:b_id>")
def compare(a_id: int, b_id: int):
    left = get_visible_bid(current_user, a_id)
    right = get_visible_bid(current_user, b_id)
    comparison = similarity.compare_texts(readable_text(left), readable_text(right))
    return render_template("overlaps/compare.html", left=left, right=right, comparison=comparison)


@bp.route("/compare/draft/<int:bid_id>", methods=["POST"])
def compare_draft(bid_id: int):
    """A checked draft (text posted back from /check, not stored) beside a bid."""
    right = get_visible_bid(current_user, bid_id)
    form = CompareDraftForm()
    text = form.text.data or "" if form.validate_on_submit() else ""
    problem = similarity.check_text_length(text)
    if problem:
        return render_template("error.html", status=422, message=problem), 422
    draft = "\n\n".join(p for p in (form.title.data, text) if p)
    comparison = similarity.compare_texts(draft, readable_text(right))
    return render_template(
        "overlaps/compare.html",
        left=None,
        right=right,
        comparison=comparison,
        draft_title=form.title.data or "Your draft",
    )
