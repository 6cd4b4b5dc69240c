"""Organisations: list, create, page, edit, members and invitation links."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from bids.access import is_member, is_owner
from bids.claims import can_claim, decide_claim, open_claim_of, open_claims, request_claim
from bids.errors import Forbidden
from bids.models import OrgKind
from bids.organisations import (
    accept_invitation,
    bids_received_query,
    create_invitation,
    create_organisation,
    funders_applied_to,
    get_invitation,
    get_open_invitation,
    get_organisation_by_slug,
    members_of,
    open_invitations,
    organisation_bids_query,
    organisations_query,
    remove_member,
    revoke_invitation,
    set_member_role,
    update_organisation,
)
from portal.orgs import bp
from portal.orgs.forms import KIND_LABELS, ClaimForm, DecisionForm, InvitationForm, OrganisationForm
from portal.pagination import paginate
from portal.views import commit_or_errors

ORGS_PER_PAGE = 30


@bp.route("/")
def index():
    kind = request.args.get("kind") or None
    if kind is not None and kind not in {k.value for k in OrgKind}:
        kind = None
    pagination = paginate(organisations_query(kind), ORGS_PER_PAGE)
    return render_template(
        "orgs/index.html", pagination=pagination, kind=kind, kind_labels=KIND_LABELS
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = OrganisationForm()
    if form.validate_on_submit():
        with commit_or_errors(form) as saved:
            org = create_organisation(current_user, form.domain_data())
        if saved:
            flash(f"{org.name} is created and you are its owner.", "success")
            return redirect(url_for("orgs.show", slug=org.slug))
    status = 422 if request.method == "POST" else 200
    return render_template("orgs/form.html", form=form, org=None), status


@bp.route("/<slug>")
def show(slug: str):
    org = get_organisation_by_slug(slug)
    per_page = current_app.config["BIDS_PER_PAGE"]
    bids = paginate(organisation_bids_query(current_user, org), per_page)
    received = None
    if org.kind == OrgKind.FUNDER:
        received = paginate(bids_received_query(current_user, org), per_page, name="received_page")
    return render_template(
        "orgs/show.html",
        org=org,
        bids=bids,
        received=received,
        funders=funders_applied_to(current_user, org),
        member=is_member(current_user, org),
        owner=is_owner(current_user, org),
        kind_labels=KIND_LABELS,
        claimable=can_claim(current_user, org),
        my_claim=open_claim_of(current_user, org),
        claim_form=ClaimForm(),
    )


@bp.route("/<slug>/claim", methods=["POST"])
@login_required
def claim(slug: str):
    org = get_organisation_by_slug(slug)
    form = ClaimForm()
    if form.validate_on_submit():
        with commit_or_errors(flash_errors=True) as saved:
            request_claim(current_user, org, form.message.data or "")
        if saved:
            flash(f"Your request to manage {org.name} is with the site's admins.", "success")
    else:
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    return redirect(url_for("orgs.show", slug=org.slug))


@bp.route("/claims")
@login_required
def claims():
    return render_template(
        "orgs/claims.html", claims=open_claims(current_user), form=DecisionForm()
    )


@bp.route("/claims/<int:claim_id>", methods=["POST"])
@login_required
def decide(claim_id: int):
    form = DecisionForm()
    decision = request.form.get("decision")
    if not form.validate_on_submit() or decision not in ("approve", "refuse"):
        flash("Nothing was decided: use the Approve or Refuse button of a request.", "error")
    else:
        approve = decision == "approve"
        with commit_or_errors(flash_errors=True) as saved:
            claim = decide_claim(current_user, claim_id, approve)
        if saved:
            who, org = claim.user.display_name, claim.organisation.name
            flash(
                f"{who} now owns {org}." if approve else f"{who}'s request for {org} is refused.",
                "success",
            )
    return redirect(url_for("orgs.claims"))


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str):
    org = get_organisation_by_slug(slug)
    if not is_owner(current_user, org):
        raise Forbidden("Only an owner can change the organisation's details.")
    form = OrganisationForm(obj=None if request.method == "POST" else org)
    if request.method == "GET":
        form.identifier.data = org.org_identifier or ""
        form.set_regions(org.regions or [])
    if form.validate_on_submit():
        with commit_or_errors(form) as saved:
            update_organisation(current_user, org, form.domain_data())
        if saved:
            flash("The organisation's details are saved.", "success")
            return redirect(url_for("orgs.show", slug=org.slug))
    status = 422 if request.method == "POST" else 200
    return render_template("orgs/form.html", form=form, org=org), status


@bp.route("/<slug>/members")
@login_required
def members(slug: str):
    org = get_organisation_by_slug(slug)
    owner = is_owner(current_user, org)
    return render_template(
        "orgs/members.html",
        org=org,
        memberships=members_of(current_user, org),
        owner=owner,
        invitations=open_invitations(org) if owner else [],
        invitation_form=InvitationForm(),
    )


def _to_members(org, message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("orgs.members", slug=org.slug))


@bp.route("/<slug>/invitations", methods=["POST"])
@login_required
def invite(slug: str):
    org = get_organisation_by_slug(slug)
    form = InvitationForm()
    if not form.validate_on_submit():
        return _to_members(org, "Choose the role of the person you invite.", "error")
    with commit_or_errors():
        create_invitation(current_user, org, form.role.data)
    return _to_members(
        org,
        "Invitation link created: copy it from the list below and send it "
        "to your colleague. It works once, for 14 days.",
    )


@bp.route("/<slug>/invitations/<int:invitation_id>/revoke", methods=["POST"])
@login_required
def revoke(slug: str, invitation_id: int):
    org = get_organisation_by_slug(slug)
    with commit_or_errors(flash_errors=True) as saved:
        revoke_invitation(current_user, get_invitation(org, invitation_id))
    if not saved:
        return redirect(url_for("orgs.members", slug=org.slug))
    return _to_members(org, "The invitation is revoked: its link no longer works.")


@bp.route("/<slug>/members/<int:user_id>/role", methods=["POST"])
@login_required
def set_role(slug: str, user_id: int):
    org = get_organisation_by_slug(slug)
    with commit_or_errors(flash_errors=True) as saved:
        membership = set_member_role(current_user, org, user_id, request.form.get("role", ""))
    if not saved:
        return redirect(url_for("orgs.members", slug=org.slug))
    return _to_members(org, f"{membership.user.display_name} is now {membership.role}.")


@bp.route("/<slug>/members/<int:user_id>/remove", methods=["POST"])
@login_required
def remove(slug: str, user_id: int):
    org = get_organisation_by_slug(slug)
    leaving = user_id == current_user.id
    with commit_or_errors(flash_errors=True) as saved:
        remove_member(current_user, org, user_id)
    if not saved:
        return redirect(url_for("orgs.members", slug=org.slug))
    if leaving:
        flash(f"You have left {org.name}.", "success")
        return redirect(url_for("orgs.show", slug=org.slug))
    return _to_members(org, "The member is removed.")


@bp.route("/<slug>/leave", methods=["POST"])
@login_required
def leave(slug: str):
    return remove(slug, current_user.id)


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    invitation = get_open_invitation(token)
    org = invitation.organisation
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.path))
        with commit_or_errors():
            accept_invitation(current_user, token)
        flash(f"Welcome to {org.name}: you are now {current_user.role_in(org.id)}.", "success")
        return redirect(url_for("orgs.show", slug=org.slug))
    return render_template(
        "orgs/join.html",
        invitation=invitation,
        org=org,
        already_member=is_member(current_user, org),
    )
