"""Demo content: organisations, people and bids, loaded through the domain services.

`seed_demo` is idempotent: organisations are found by name, people by email and
bids by identifier, so a second run changes nothing. It commits its own work
(it is called from the `seed-demo` command and from `make run`, which then refresh
the overlap clusters: derived data, not the domain's).
"""

from __future__ import annotations

from sqlalchemy import func, select

from bids import demo_content as content
from bids.accounts import create_user, get_user_by_email
from bids.database import db
from bids.models import Bid, Membership, Organisation, OrgKind, Role, User
from bids.organisations import find_or_create_organisation
from bids.publishing import create_bid, link_bids


def has_bids() -> bool:
    return bool(db.session.scalar(select(func.count(Bid.id))))


def seed_demo(only_if_empty: bool = False) -> str:
    """Load the demo; returns a short report naming the demo accounts."""
    if only_if_empty and has_bids():
        return "Bids already exist: demo content not loaded."
    orgs = _seed_organisations()
    people, new_people = _seed_people(orgs)
    bids, new_bids = _seed_bids(orgs)
    _seed_links(bids, people)
    extra = _seed_extensions(orgs, people, bids)
    db.session.commit()
    lines = [
        f"Demo content: {len(orgs)} organisations, {len(bids)} bids ({new_bids} new), "
        f"{len(people)} people ({new_people} new).",
        *extra,
        f"Demo accounts (demo only, never use in production), password {content.DEMO_PASSWORD!r}:",
    ]
    lines += [
        f"  {email}" + (" (admin)" if admin else f" ({org})" if org else "")
        for email, _name, org, admin in content.PEOPLE
    ]
    return "\n".join(lines)


def _seed_organisations() -> dict[str, Organisation]:
    orgs: dict[str, Organisation] = {}
    for spec, kind in [(f, OrgKind.FUNDER) for f in content.FUNDERS] + [
        (a, a.get("kind", OrgKind.APPLICANT)) for a in content.APPLICANTS
    ]:
        org = find_or_create_organisation(spec["name"], kind=kind)
        if not org.description:
            org.description = spec.get("description", "")
            org.regions = list(spec.get("regions", []))
            org.website = spec.get("website")
            org.kind = kind
        orgs[spec["name"]] = org
    db.session.flush()
    return orgs


def _seed_people(orgs: dict[str, Organisation]) -> tuple[dict[str, User], int]:
    people: dict[str, User] = {}
    created = 0
    for email, name, org_name, admin in content.PEOPLE:
        user = get_user_by_email(email)
        if user is None:
            user = create_user(email, name, content.DEMO_PASSWORD, is_admin=admin)
            created += 1
        if org_name and orgs[org_name].id not in user.organisation_ids():
            db.session.add(Membership(user=user, organisation=orgs[org_name], role=Role.OWNER))
            db.session.flush()
            db.session.refresh(user)
        people[email] = user
    return people, created


def _seed_bids(orgs: dict[str, Organisation]) -> tuple[dict[str, Bid], int]:
    bids: dict[str, Bid] = {}
    created = 0
    for spec in content.BIDS:
        bid = db.session.scalar(select(Bid).where(Bid.identifier == spec["identifier"]))
        if bid is None:
            data = {k: v for k, v in spec.items() if k != "organisation"}
            data.setdefault("visibility", "published")
            bid = create_bid(None, orgs[spec["organisation"]], data, check_membership=False)
            created += 1
        bids[spec["identifier"]] = bid
    return bids, created


def _seed_links(bids: dict[str, Bid], people: dict[str, User]) -> None:
    for from_id, to_id, kind in content.LINKS:
        bid = bids[from_id]
        author = next(u for u in people.values() if bid.organisation_id in u.organisation_ids())
        link_bids(author, bid, bids[to_id], kind)


def _seed_extensions(orgs, people, bids) -> list[str]:
    """The funders' pool: programmes and a pool of two funders."""
    from bids.pools.models import Pool, Programme
    from bids.pools.services import (
        create_pool,
        create_programme,
        invite_funder,
        respond_to_invitation,
    )

    for funder, spec in content.PROGRAMMES:
        exists = db.session.scalar(
            select(Programme.id).where(
                Programme.funder_id == orgs[funder].id, Programme.name == spec["name"]
            )
        )
        if not exists:
            create_programme(people[content.FUNDER_PEOPLE[funder]], orgs[funder], spec)
    pool = db.session.scalar(select(Pool).where(Pool.name == content.POOL["name"]))
    if pool is None:
        owner = people["funder1@openbids.test"]
        pool = create_pool(owner, orgs[content.NLCF], content.POOL)
        invitation = invite_funder(owner, pool, orgs[content.THISTLE], "Join us to co-fund.")
        respond_to_invitation(people["funder2@openbids.test"], invitation.id, accept=True)
    return [f"Funders' pool “{pool.name}”: {len(pool.members)} members."]
