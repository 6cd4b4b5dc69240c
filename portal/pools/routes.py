"""Routes of the funders' pool: pools, dashboard, pledges, introductions, inbox, programmes."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from bids.access import get_visible_bid
from bids.database import db
from bids.errors import NotFound
from bids.models import Organisation, OrgKind
from bids.pools import services
from bids.pools.access import (
    funder_orgs_of,
    get_member_pool,
    is_pool_owner,
    pools_of,
    user_pool_orgs,
)
from bids.pools.models import OverlapCluster, PoolRole
from bids.pools.opportunities import (
    Filters,
    all_opportunities,
    clusters_with_bids_of,
    filter_choices,
)
from portal.converters import id_value
from portal.pools import bp
from portal.pools.forms import (
    ActionForm,
    HandOverForm,
    IntroductionForm,
    InviteForm,
    PledgeForm,
    PoolForm,
    ProgrammeForm,
)
from portal.views import commit_or_errors

LISTS = {
    "clusters": "Overlap clusters",
    "several": "Sent to several of us",
    "too_big": "Too big for one of us",
}


@bp.app_context_processor
def inbox_context():
    if not current_user.is_authenticated:
        return {"inbox_unread": 0}
    return {"inbox_unread": services.unread_count(current_user)}


def _funder_choices():
    funders = funder_orgs_of(current_user)
    if not funders:
        raise NotFound("No such page.")
    return [(o.id, o.name) for o in funders]


# --- pools ---------------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    return render_template(
        "pools/index.html",
        pools=pools_of(current_user),
        invitations=services.invitations_for(current_user),
        is_funder=bool(funder_orgs_of(current_user)),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = PoolForm()
    form.funder.choices = _funder_choices()
    if form.validate_on_submit():
        with commit_or_errors(form) as saved:
            pool = services.create_pool(
                current_user, db.session.get(Organisation, form.funder.data), form.data
            )
        if saved:
            flash("Pool created. Invite other funders from its settings.", "success")
            return redirect(url_for("pools.dashboard", pool_id=pool.id))
    return render_template("pools/form.html", form=form)


@bp.get("/<int:pool_id>")
@login_required
def dashboard(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    filters = Filters.from_args(request.args)
    lists = all_opportunities(pool, filters)
    return render_template(
        "pools/dashboard.html",
        pool=pool,
        lists=lists,
        titles=LISTS,
        filters=filters,
        choices=filter_choices(pool),
        members=pool.member_org_ids(),
    )


@bp.get("/<int:pool_id>/export.csv")
@login_required
def export(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    which = request.args.get("list", "clusters")
    if which not in LISTS:
        abort(404)
    items = all_opportunities(pool, Filters.from_args(request.args), limit=None)[which]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "list",
            "score",
            "score_parts",
            "title",
            "reason",
            "bid_identifiers",
            "organisations",
            "funders",
            "requested",
        ]
    )
    for rank, item in enumerate(items, 1):
        writer.writerow(
            [
                rank,
                which,
                item.score,
                "; ".join(f"{p.label} {p.points:g}/{p.out_of} ({p.why})" for p in item.parts),
                item.title,
                item.reason,
                " ".join(b.identifier for b in item.bids),
                "; ".join(sorted({b.organisation.name for b in item.bids})),
                "; ".join(sorted({b.funder.name for b in item.bids if b.funder})),
                item.requested_text(),
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="pool-{pool.id}-{which}.csv"'},
    )


@bp.route("/<int:pool_id>/settings", methods=["GET", "POST"])
@login_required
def settings(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    owner = is_pool_owner(current_user, pool)
    form = PoolForm(obj=None if request.method == "POST" else pool)
    form.funder.choices = [(pool.owner.id, pool.owner.name)] if pool.owner else []
    if request.method == "GET":
        form.themes.data = "; ".join(pool.themes)
        form.geographies.data = "; ".join(pool.geographies)
    if owner and form.validate_on_submit():
        with commit_or_errors(form) as saved:
            services.update_pool(current_user, pool, form.data)
        if saved:
            flash("Pool saved.", "success")
            return redirect(url_for("pools.settings", pool_id=pool.id))
    invite = InviteForm(prefix="invite")
    invite.organisation.choices = [(o.id, o.name) for o in services.invitable_funders(pool)]
    handover = HandOverForm(prefix="handover")
    handover.organisation.choices = [
        (m.organisation_id, m.organisation.name) for m in pool.members if m.role != PoolRole.OWNER
    ]
    return render_template(
        "pools/settings.html",
        pool=pool,
        form=form,
        owner=owner,
        invite=invite,
        handover=handover,
        action=ActionForm(),
        invitations=services.open_invitations(pool),
        my_orgs=user_pool_orgs(current_user, pool),
    )


@bp.post("/<int:pool_id>/invite")
@login_required
def invite(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    form = InviteForm(prefix="invite")
    form.organisation.choices = [(o.id, o.name) for o in services.invitable_funders(pool)]
    if form.validate_on_submit():
        org = db.session.get(Organisation, form.organisation.data)
        with commit_or_errors():
            services.invite_funder(current_user, pool, org, form.message.data)
        flash(f"{org.name} has been invited; its members will see it in their inbox.", "success")
    else:
        flash("Choose a funder to invite.", "error")
    return redirect(url_for("pools.settings", pool_id=pool.id))


@bp.post("/<int:pool_id>/hand-over")
@login_required
def hand_over(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    form = HandOverForm(prefix="handover")
    form.organisation.choices = [(m.organisation_id, m.organisation.name) for m in pool.members]
    if form.validate_on_submit():
        with commit_or_errors():
            services.hand_over(current_user, pool, form.organisation.data)
        flash("Ownership handed over.", "success")
    return redirect(url_for("pools.settings", pool_id=pool.id))


@bp.post("/<int:pool_id>/leave/<int:org_id>")
@login_required
def leave(pool_id: int, org_id: int):
    pool = get_member_pool(current_user, pool_id)
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            services.leave_pool(current_user, pool, org_id)
        flash("Your organisation has left the pool.", "success")
    return redirect(url_for("pools.index"))


@bp.get("/invitations/<int:invitation_id>")
@login_required
def invitation(invitation_id: int):
    item = services.get_invitation_for(current_user, invitation_id)
    return render_template("pools/invitation.html", invitation=item, action=ActionForm())


@bp.post("/invitations/<int:invitation_id>/<any(accept, decline):answer>")
@login_required
def answer_invitation(invitation_id: int, answer: str):
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            item = services.respond_to_invitation(current_user, invitation_id, answer == "accept")
        if answer == "accept":
            flash(f"You joined “{item.pool.name}”.", "success")
            return redirect(url_for("pools.dashboard", pool_id=item.pool_id))
        flash("Invitation declined.", "success")
    return redirect(url_for("pools.index"))


# --- clusters, bids and pledges --------------------------------------------------------------


def _pledged_id(raw: str | None) -> int | None:
    return id_value(raw) if raw else None


def _pledge_form(**target) -> PledgeForm:
    form = PledgeForm(prefix="pledge")
    for key, value in target.items():
        getattr(form, key).data = value
    return form


@bp.get("/<int:pool_id>/clusters/<int:cluster_id>")
@login_required
def cluster(pool_id: int, cluster_id: int):
    pool = get_member_pool(current_user, pool_id)
    item = db.session.get(OverlapCluster, cluster_id)
    if item is None:
        raise NotFound("No such overlap cluster.")
    bids = [m.bid for m in item.members if m.bid.is_public]
    pledges = services.active_pledges(pool, bid_ids=[b.id for b in bids], cluster_ids=[item.id])
    status = services.co_funding(
        [p for p in pledges if p.cluster_id == item.id], item.requested_minor
    )
    return render_template(
        "pools/cluster.html",
        pool=pool,
        cluster=item,
        bids=bids,
        pledges=pledges,
        status=status,
        form=_pledge_form(cluster_id=item.id),
        members=pool.member_org_ids(),
        mine=user_pool_orgs(current_user, pool),
        action=ActionForm(),
    )


@bp.get("/<int:pool_id>/bids/<int:bid_id>")
@login_required
def pool_bid(pool_id: int, bid_id: int):
    pool = get_member_pool(current_user, pool_id)
    bid = get_visible_bid(current_user, bid_id)
    if not bid.is_public:
        raise NotFound("No such bid.")
    pledges = services.active_pledges(pool, bid_ids=[bid.id])
    form = _pledge_form(bid_id=bid.id)
    form.currency.data = bid.currency
    return render_template(
        "pools/bid.html",
        pool=pool,
        bid=bid,
        pledges=pledges,
        status=services.bid_co_funding(pool, bid),
        form=form,
        mine=user_pool_orgs(current_user, pool),
        action=ActionForm(),
    )


@bp.post("/<int:pool_id>/pledges")
@login_required
def pledge(pool_id: int):
    pool = get_member_pool(current_user, pool_id)
    form = PledgeForm(prefix="pledge")
    bid_id, cluster_id = _pledged_id(form.bid_id.data), _pledged_id(form.cluster_id.data)
    back = (
        url_for("pools.pool_bid", pool_id=pool.id, bid_id=bid_id)
        if bid_id
        else url_for("pools.cluster", pool_id=pool.id, cluster_id=cluster_id or 0)
    )
    if form.validate_on_submit():
        with commit_or_errors(flash_errors=True) as saved:
            services.make_pledge(
                current_user,
                pool,
                {
                    "bid_id": bid_id,
                    "cluster_id": cluster_id,
                    "amount": form.amount.data,
                    "currency": form.currency.data,
                    "note": form.note.data,
                },
            )
        if saved:
            flash("Pledge recorded: the other members can see it.", "success")
    return redirect(back)


@bp.post("/<int:pool_id>/pledges/<int:pledge_id>/withdraw")
@login_required
def withdraw(pool_id: int, pledge_id: int):
    pool = get_member_pool(current_user, pool_id)
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            services.withdraw_pledge(current_user, pool, pledge_id)
        flash("Pledge withdrawn.", "success")
    return redirect(
        request.form.get("back")
        if (request.form.get("back") or "").startswith("/pools/")
        else url_for("pools.dashboard", pool_id=pool.id)
    )


@bp.get("/bids/<int:bid_id>/pledges")
@login_required
def applicant_pledges(bid_id: int):
    bid = get_visible_bid(current_user, bid_id)
    return render_template(
        "pools/applicant_pledges.html",
        bid=bid,
        pledges=services.shared_pledges_for_bid(current_user, bid),
    )


# --- overlaps and introductions ---------------------------------------------------------------


@bp.get("/overlaps")
@login_required
def my_overlaps():
    """Clusters containing my organisations' bids: where a writer proposes introductions."""
    org_ids = current_user.organisation_ids()
    clusters = clusters_with_bids_of(org_ids)
    return render_template("pools/overlaps.html", clusters=clusters, org_ids=org_ids)


@bp.route("/introductions/new", methods=["GET", "POST"])
@login_required
def new_introduction():
    form = IntroductionForm()
    if request.method == "GET":
        form.first.data = request.args.get("first", "")
        form.second.data = request.args.get("second", "")
        form.cluster.data = request.args.get("cluster", "")
    first = get_visible_bid(current_user, id_value(form.first.data or 0))
    second = get_visible_bid(current_user, id_value(form.second.data or 0))
    if form.validate_on_submit():
        cluster_id = id_value(form.cluster.data) if form.cluster.data else None
        with commit_or_errors(form) as saved:
            intro = services.propose_introduction(
                current_user, first, second, form.message.data, cluster_id
            )
        if saved:
            flash(
                "Introduction proposed: the other organisation will find it in its inbox.",
                "success",
            )
            return redirect(url_for("pools.introduction", intro_id=intro.id))
    return render_template("pools/introduction_form.html", form=form, first=first, second=second)


@bp.get("/introductions/<int:intro_id>")
@login_required
def introduction(intro_id: int):
    intro = services.get_introduction_for(current_user, intro_id)
    mine = current_user.organisation_ids()
    waiting_on_me = not intro.declined_at and any(
        getattr(intro, f"{s}_org_id") in mine and getattr(intro, f"{s}_accepted_at") is None
        for s in ("first", "second")
    )
    return render_template(
        "pools/introduction.html",
        intro=intro,
        contacts=services.contacts(intro),
        waiting_on_me=waiting_on_me,
        action=ActionForm(),
    )


@bp.post("/introductions/<int:intro_id>/<any(accept, decline):answer>")
@login_required
def answer_introduction(intro_id: int, answer: str):
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            services.respond_to_introduction(current_user, intro_id, answer == "accept")
        flash(
            "Introduction accepted." if answer == "accept" else "Introduction declined.", "success"
        )
    return redirect(url_for("pools.introduction", intro_id=intro_id))


@bp.get("/inbox")
@login_required
def inbox():
    return render_template(
        "pools/inbox.html",
        items=services.inbox(current_user),
        invitations=services.invitations_for(current_user),
        introductions=services.introductions_for(current_user),
        action=ActionForm(),
    )


@bp.post("/inbox/read")
@login_required
def mark_read():
    if ActionForm().validate_on_submit():
        with commit_or_errors():
            services.mark_read(current_user)
    return redirect(url_for("pools.inbox"))


# --- programmes -----------------------------------------------------------------------------


@bp.get("/programmes")
def programmes():
    return render_template(
        "pools/programmes.html",
        programmes=services.programmes(),
        can_add=current_user.is_authenticated and bool(funder_orgs_of(current_user)),
    )


@bp.route("/programmes/new", methods=["GET", "POST"])
@login_required
def new_programme():
    form = ProgrammeForm()
    form.funder.choices = _funder_choices()
    if form.validate_on_submit():
        funder = db.session.get(Organisation, form.funder.data)
        if funder is None or funder.kind != OrgKind.FUNDER:
            raise NotFound("No such funder.")
        with commit_or_errors(form) as saved:
            services.create_programme(current_user, funder, form.data)
        if saved:
            flash("Programme published.", "success")
            return redirect(url_for("pools.programmes"))
    return render_template("pools/programme_form.html", form=form)
