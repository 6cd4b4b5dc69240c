"""Bid pages: publish, edit, read, attachments, outcome, revisions, lineage, moderation.

Views are thin: they read forms, call the services in `bids/`, and own the commit.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required

from bids.access import (
    can_edit,
    can_view,
    get_editable_bid,
    get_visible_bid,
    get_visible_bid_by_identifier,
    require_admin,
)
from bids.attachments import add_attachment, attachment_file_path
from bids.database import db
from bids.errors import NotFound
from bids.fields import MAX_BODY, SUGGESTED_LOCATIONS
from bids.markdown_render import render_markdown
from bids.models import BidLink, ExtractionStatus, Organisation, Visibility
from bids.publishing import (
    create_bid,
    hide_bid,
    link_bids,
    record_outcome,
    resolve_bid_reference,
    unhide_bid,
    unlink_bids,
    update_bid,
)
from bids.revisions import (
    compare_revisions as compare_revision_fields,
)
from bids.revisions import (
    get_revision,
    latest_revision_number,
    list_revisions,
    revision_count,
)
from portal.bids import bp
from portal.bids.forms import (
    LINK_LABELS,
    ActionForm,
    BidForm,
    HideForm,
    LinkForm,
    OutcomeForm,
    UploadForm,
    choices,
)
from portal.converters import id_arg
from portal.views import actor, commit_or_errors, overlap_panel


def _plain_amount(amount) -> str:
    """300000 rather than 300000.00 in a form field; pence kept when there are any."""
    if amount is None:
        return ""
    return str(amount.quantize(1)) if amount == amount.to_integral_value() else str(amount)


def _bid_initial(bid) -> dict:
    return {
        "title": bid.title,
        "summary": bid.summary,
        "body": bid.body,
        "funder_name": bid.funder.name if bid.funder else "",
        "funder_identifier": (bid.funder.org_identifier or "") if bid.funder else "",
        "programme": bid.programme,
        "amount_requested": _plain_amount(bid.amount_requested),
        "currency": bid.currency,
        "duration_months": bid.duration_months or "",
        "submitted_on": bid.submitted_on.isoformat() if bid.submitted_on else "",
        "themes": "; ".join(bid.themes or []),
        "locations": "; ".join(bid.locations or []),
        "licence": bid.licence,
        "identifier": bid.identifier,
        "source_url": bid.source_url or "",
    }


def _render_form(form, *, bid=None, organisations=(), preview=False, status=200):
    return render_template(
        "bids/form.html",
        form=form,
        bid=bid,
        organisations=organisations,
        preview=preview,
        suggested_locations=SUGGESTED_LOCATIONS,
        upload_form=UploadForm(),
        link_form=LinkForm(),
        action_form=ActionForm(),
        link_labels=LINK_LABELS,
        # A private draft's edit page shows what it overlaps (only members reach this page).
        **(overlap_panel(actor(), bid) if bid is not None and not bid.is_published else {}),
    ), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    user = actor()
    organisations = sorted((m.organisation for m in user.memberships), key=lambda o: o.name)
    form = BidForm()
    del form.save, form.note
    form.organisation.choices = choices((o.id, o.name) for o in organisations)
    if request.method == "GET":  # an organisation page may link to /bids/new?organisation=<id>
        form.organisation.data = request.args.get("organisation", type=int)
    if not organisations:
        return _render_form(form, organisations=organisations)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return _render_form(form, organisations=organisations, status=status)
    if form.preview.data:
        return _render_form(form, organisations=organisations, preview=True)
    organisation = db.session.get(Organisation, form.organisation.data)
    data = form.bid_data()
    data["visibility"] = Visibility.PUBLISHED if form.publish.data else Visibility.DRAFT
    with commit_or_errors(form) as saved:
        bid = create_bid(user, organisation, data)
    if not saved:
        return _render_form(form, organisations=organisations, status=422)
    flash(
        "Your bid is published."
        if bid.is_published
        else "Your draft is saved. Only your organisation can see it.",
        "success",
    )
    return redirect(url_for("bids.show", bid_id=bid.id))


@bp.route("/preview", methods=["POST"])
@login_required
def preview():
    """The sanitised HTML of a Markdown body, for the form's live preview (bids.js).

    The form's own Preview button does the same without JavaScript.
    """
    body = (request.form.get("body") or "")[:MAX_BODY]
    return Response(render_markdown(body), mimetype="text/html")


@bp.route("/<int:bid_id>/edit", methods=["GET", "POST"])
@login_required
def edit(bid_id: int):
    user = actor()
    bid = get_editable_bid(user, bid_id)
    form = BidForm(data=_bid_initial(bid) if request.method == "GET" else None)
    del form.organisation, form.status
    if bid.is_published:
        del form.save_draft, form.publish
    else:
        del form.save, form.note
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return _render_form(form, bid=bid, status=status)
    if form.preview.data:
        return _render_form(form, bid=bid, preview=True)
    data = form.bid_data()
    if not bid.is_published:
        data["visibility"] = Visibility.PUBLISHED if form.publish.data else Visibility.DRAFT
    note = form.note.data if "note" in form else ""
    with commit_or_errors(form) as saved:
        update_bid(user, bid, data, note=note or "")
    if not saved:
        return _render_form(form, bid=get_editable_bid(user, bid_id), status=422)
    flash(
        "Your changes are saved."
        if bid.is_published
        else "Your draft is saved. Only your organisation can see it.",
        "success",
    )
    return redirect(url_for("bids.show", bid_id=bid.id))


@bp.route("/<int:bid_id>")
def show(bid_id: int):
    user = actor()
    bid = get_visible_bid(user, bid_id)
    lineage = [
        (LINK_LABELS[link.kind][0], link.to_bid)
        for link in bid.links
        if can_view(user, link.to_bid)
    ] + [
        (LINK_LABELS[link.kind][1], link.from_bid)
        for link in bid.backlinks
        if can_view(user, link.from_bid)
    ]
    return render_template(
        "bids/show.html",
        bid=bid,
        lineage=lineage,
        can_edit=can_edit(user, bid),
        revision_count=revision_count(bid),
        is_admin=bool(user and user.is_admin),
        hide_form=HideForm(),
        action_form=ActionForm(),
        **overlap_panel(user, bid),
    )


@bp.route("/by-identifier/<path:identifier>")
def by_identifier(identifier: str):
    bid = get_visible_bid_by_identifier(actor(), identifier)
    return redirect(url_for("bids.show", bid_id=bid.id))


@bp.route("/<int:bid_id>/attachments", methods=["POST"])
@login_required
def upload(bid_id: int):
    user = actor()
    bid = get_editable_bid(user, bid_id)
    form = UploadForm()
    if not form.validate_on_submit():
        flash("The upload could not be checked: reload the page and try again.", "error")
        return redirect(url_for("bids.edit", bid_id=bid.id))
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("Choose a PDF file to upload.", "error")
        return redirect(url_for("bids.edit", bid_id=bid.id))
    with commit_or_errors(flash_errors=True) as saved:
        attachment = add_attachment(user, bid, file)
    if not saved:
        return redirect(url_for("bids.edit", bid_id=bid_id))
    category = "success" if attachment.extraction_status == ExtractionStatus.OK else "warning"
    flash(f"{attachment.filename} is attached. {attachment.extraction_message}", category)
    return redirect(url_for("bids.edit", bid_id=bid.id))


@bp.route("/<int:bid_id>/attachments/<int:attachment_id>/<path:filename>")
def download(bid_id: int, attachment_id: int, filename: str):
    bid = get_visible_bid(actor(), bid_id)
    attachment = next((a for a in bid.attachments if a.id == attachment_id), None)
    if attachment is None or attachment.filename != filename:
        raise NotFound("No such attachment.")
    path = attachment_file_path(attachment)
    if not path.is_file():
        raise NotFound("The file is missing from storage.")
    response = send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<int:bid_id>/outcome", methods=["GET", "POST"])
@login_required
def outcome(bid_id: int):
    user = actor()
    bid = get_editable_bid(user, bid_id)
    initial = {
        "status": bid.status if bid.status != "draft" else "submitted",
        "amount_awarded": _plain_amount(bid.amount_awarded),
        "decided_on": bid.decided_on.isoformat() if bid.decided_on else "",
    }
    form = OutcomeForm(data=initial if request.method == "GET" else None)
    if form.validate_on_submit():
        data = {"status": form.status.data, "decided_on": form.decided_on.data}
        if form.amount_awarded.data:
            data["amount_awarded"] = form.amount_awarded.data
        with commit_or_errors(form) as saved:
            record_outcome(user, bid, data, note=form.note.data or "")
        if saved:
            flash(f"Outcome recorded: {bid.status}.", "success")
            return redirect(url_for("bids.show", bid_id=bid.id))
        bid = get_editable_bid(user, bid_id)
    status = 422 if request.method == "POST" else 200
    return render_template("bids/outcome.html", bid=bid, form=form), status


@bp.route("/<int:bid_id>/revisions")
def revisions(bid_id: int):
    bid = get_visible_bid(actor(), bid_id)
    return render_template("bids/revisions.html", bid=bid, revisions=list_revisions(bid))


@bp.route("/<int:bid_id>/revisions/compare")
def compare_revisions(bid_id: int):
    bid = get_visible_bid(actor(), bid_id)
    latest = latest_revision_number(bid)
    old, new = id_arg("from", max(latest - 1, 1)), id_arg("to", latest)
    if old > new:
        old, new = new, old
    changes = compare_revision_fields(bid, old, new)
    return render_template(
        "bids/compare.html",
        bid=bid,
        changes=changes,
        old=get_revision(bid, old),
        new=get_revision(bid, new),
    )


@bp.route("/<int:bid_id>/links", methods=["POST"])
@login_required
def add_link(bid_id: int):
    user = actor()
    bid = get_editable_bid(user, bid_id)
    form = LinkForm()
    if form.validate_on_submit():
        with commit_or_errors(flash_errors=True) as saved:
            other = resolve_bid_reference(user, form.target.data)
            link_bids(user, bid, other, form.kind.data)
        if saved:
            flash(f"Linked to “{other.title}”.", "success")
    else:
        flash("Choose the relation and give the other bid's identifier or address.", "error")
    return redirect(url_for("bids.edit", bid_id=bid_id) + "#lineage")


@bp.route("/<int:bid_id>/links/<int:link_id>/delete", methods=["POST"])
@login_required
def remove_link(bid_id: int, link_id: int):
    user = actor()
    bid = get_editable_bid(user, bid_id)
    link = db.session.get(BidLink, link_id)
    if link is None or link.from_bid_id != bid.id:
        raise NotFound("No such link.")
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            unlink_bids(user, link)
        flash("The link is removed.", "success")
    return redirect(url_for("bids.edit", bid_id=bid_id) + "#lineage")


@bp.route("/<int:bid_id>/hide", methods=["POST"])
@login_required
def hide(bid_id: int):
    admin = require_admin(actor())
    bid = get_visible_bid(admin, bid_id)
    form = HideForm()
    if form.validate_on_submit():
        with commit_or_errors(flash_errors=True) as saved:
            hide_bid(admin, bid, form.reason.data)
        if saved:
            flash("The bid is hidden from every public view.", "success")
    return redirect(url_for("bids.show", bid_id=bid_id))


@bp.route("/<int:bid_id>/restore", methods=["POST"])
@login_required
def restore(bid_id: int):
    admin = require_admin(actor())
    bid = get_visible_bid(admin, bid_id)
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            unhide_bid(admin, bid)
        flash("The bid is public again.", "success")
    return redirect(url_for("bids.show", bid_id=bid_id))
