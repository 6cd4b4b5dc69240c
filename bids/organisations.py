"""Organisations, their slugs and lookup by name or org-id, memberships and invitation links.

Claims on organisations nobody manages are in `bids.claims`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import timedelta

from slugify import slugify
from sqlalchemy import Select, func, select

from bids.access import is_member, is_owner, visibility_clause
from bids.claims import already_listed_message, listed_under_name
from bids.database import db, dialect_insert, utcnow
from bids.errors import Forbidden, NotFound, ValidationError
from bids.fields import clean_org_identifier, clean_org_kind, clean_tags
from bids.models import (
    Bid,
    Invitation,
    Membership,
    Organisation,
    OrgKind,
    Role,
    User,
)

INVITATION_LIFETIME = timedelta(days=14)
LAST_OWNER = "An organisation needs at least one owner: appoint another first."


# Paths under /orgs/ that an organisation's slug must not shadow.
RESERVED_SLUGS = frozenset({"new", "join", "claims"})


def unique_slug(name: str, taken: Callable[[str], bool] | None = None) -> str:
    """The slug for a new organisation: `name` slugified, numbered past slugs in use and the
    reserved paths. `taken` says whether a slug is in use (default: ask the database)."""
    taken = taken or _slug_in_use
    base = slugify(name, max_length=100) or "organisation"
    slug, n = base, 1
    while slug in RESERVED_SLUGS or taken(slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_in_use(slug: str) -> bool:
    return db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None


def get_organisation_by_slug(slug: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise NotFound("No such organisation.")
    return org


def organisation_with_identifier(identifier: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.org_identifier == identifier))


def name_key(name: str) -> str:
    """How organisation names are matched: trimmed, in any case."""
    return name.strip().lower()


class OrganisationDirectory:
    """Organisations found by org-id and by name, looked up in bulk: the one rule for which
    organisation a name and identifier mean. The identifier is authoritative; otherwise the
    oldest organisation of that name (in any case)."""

    def __init__(self) -> None:
        self.by_identifier: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.identifiers: dict[int, str] = {}
        self._asked_names: set[str] = set()
        self._asked_identifiers: set[str] = set()

    def load(self, names: Iterable[str], identifiers: Iterable[str | None] = ()) -> None:
        """Look up the names and identifiers not asked about before (a query for each kind)."""
        keys = {name_key(name) for name in names} - self._asked_names
        wanted = {i for i in identifiers if i} - self._asked_identifiers
        columns = (Organisation.id, Organisation.name, Organisation.org_identifier)
        if wanted:
            rows = db.session.execute(
                select(*columns).where(Organisation.org_identifier.in_(sorted(wanted)))
            )
            for org_id, name, identifier in rows:
                self._remember(org_id, name, identifier)
            self._asked_identifiers |= wanted
        if keys:
            rows = db.session.execute(
                select(*columns)
                .where(func.lower(Organisation.name).in_(sorted(keys)))
                .order_by(Organisation.id)
            )
            for org_id, name, identifier in rows:
                self._remember(org_id, name, identifier)
                self.by_name.setdefault(name_key(name), org_id)  # the oldest of a name
            self._asked_names |= keys

    def add(self, org_id: int, name: str, identifier: str | None) -> None:
        """An organisation created since the names were looked up."""
        self._remember(org_id, name, identifier)
        self.by_name.setdefault(name_key(name), org_id)

    def set_identifier(self, org_id: int, identifier: str) -> None:
        self.by_identifier[identifier] = org_id
        self.identifiers[org_id] = identifier

    def find(self, name: str, identifier: str | None = None) -> int | None:
        """The id of the organisation meant, among those looked up; None if there is none."""
        if identifier and identifier in self.by_identifier:
            return self.by_identifier[identifier]
        return self.by_name.get(name_key(name))

    def _remember(self, org_id: int, name: str, identifier: str | None) -> None:
        self.names[org_id] = name
        if identifier:
            self.set_identifier(org_id, identifier)


def find_organisation(name: str, identifier: str | None = None) -> Organisation | None:
    """By identifier first (it is authoritative), else by case-insensitive name."""
    directory = OrganisationDirectory()
    directory.load([name], [identifier])
    org_id = directory.find(name, identifier)
    return db.session.get(Organisation, org_id) if org_id is not None else None


def find_or_create_organisation(
    name: str, identifier: str | None = None, kind: str = OrgKind.APPLICANT
) -> Organisation:
    """The organisation by identifier or name, created if there is none.

    Safe beside concurrent writers. The slugs are tried in a fixed order (the name's, then -2,
    -3...), each with an insert that skips a row already holding it or the identifier (ON
    CONFLICT DO NOTHING, which waits for a writer still deciding): two writers creating the
    same organisation claim the same slug, and the one that loses takes the other's row.
    """
    org = find_organisation(name, identifier)
    base, n = slugify(name, max_length=100) or "organisation", 1
    while org is None:
        slug = base if n == 1 else f"{base}-{n}"
        n += 1
        if slug in RESERVED_SLUGS:
            continue
        org_id = db.session.scalar(
            dialect_insert(db.session, Organisation)
            .values(
                name=name.strip(),
                slug=slug,
                kind=kind,
                org_identifier=identifier,
                regions=[],
                description="",
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(Organisation.id)
        )
        # Skipped: someone created it a moment ago, or the slug is another name's (next one).
        org = (
            db.session.get(Organisation, org_id) if org_id else find_organisation(name, identifier)
        )
    if identifier and not org.org_identifier:
        org.org_identifier = identifier
    return org


def create_organisation(founder: User, data: dict) -> Organisation:
    """A signed-in user creates an organisation and becomes its owner."""
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = "Name is required."
    elif len(name) > 200:
        errors["name"] = "Name must be at most 200 characters."
    try:
        kind = clean_org_kind(data.get("kind"))
    except ValidationError as exc:
        errors.update(exc.errors)
        kind = OrgKind.APPLICANT
    identifier = None
    try:
        identifier = clean_org_identifier(data.get("identifier"))
    except ValidationError as exc:
        errors.update(exc.errors)
    if identifier and organisation_with_identifier(identifier):
        errors["identifier"] = "An organisation with this identifier is already registered."
    elif name and "name" not in errors:
        same = listed_under_name(name, identifier)
        if same is not None:
            errors["name"] = already_listed_message(same)
    website = (data.get("website") or "").strip() or None
    if website and not website.startswith(("http://", "https://")):
        errors["website"] = "Website must start with http:// or https://."
    elif website and len(website) > 300:
        errors["website"] = "Website must be at most 300 characters."
    try:
        regions = clean_tags(data.get("regions"))
    except ValidationError as exc:
        errors["regions"] = next(iter(exc.errors.values()))
        regions = []
    if errors:
        raise ValidationError(errors)
    org = Organisation(
        name=name,
        slug=unique_slug(name),
        kind=kind,
        org_identifier=identifier,
        website=website,
        description=(data.get("description") or "").strip()[:5000],
        regions=regions,
    )
    db.session.add(org)
    db.session.add(Membership(user=founder, organisation=org, role=Role.OWNER))
    db.session.flush()
    return org


def update_organisation(actor: User, org: Organisation, data: dict) -> Organisation:  # noqa: C901 - one check per editable field, all before any change
    """An owner changes the details; every field is checked before any is changed."""
    if not is_owner(actor, org):
        raise Forbidden("Only an owner can change the organisation's details.")
    errors: dict[str, str] = {}
    changes: dict = {}
    if "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = "Name is required."
        elif len(name) > 200:
            errors["name"] = "Name must be at most 200 characters."
        else:
            changes["name"] = name
    if "kind" in data:
        try:
            changes["kind"] = clean_org_kind(data.get("kind"))
        except ValidationError as exc:
            errors.update(exc.errors)
    if "identifier" in data:
        try:
            identifier = clean_org_identifier(data.get("identifier"))
        except ValidationError as exc:
            errors.update(exc.errors)
        else:
            other = organisation_with_identifier(identifier) if identifier else None
            if other is not None and other.id != org.id:
                errors["identifier"] = "An organisation with this identifier is already registered."
            else:
                changes["org_identifier"] = identifier
    if "website" in data:
        website = (data.get("website") or "").strip() or None
        if website and not website.startswith(("http://", "https://")):
            errors["website"] = "Website must start with http:// or https://."
        elif website and len(website) > 300:
            errors["website"] = "Website must be at most 300 characters."
        else:
            changes["website"] = website
    if "description" in data:
        changes["description"] = (data.get("description") or "").strip()[:5000]
    if "regions" in data:
        try:
            changes["regions"] = clean_tags(data.get("regions"))
        except ValidationError as exc:
            errors["regions"] = next(iter(exc.errors.values()))
    if errors:
        raise ValidationError(errors)
    for attribute, value in changes.items():
        setattr(org, attribute, value)
    db.session.flush()
    return org


def create_invitation(actor: User, org: Organisation, role: str = Role.EDITOR) -> Invitation:
    if not is_owner(actor, org):
        raise Forbidden("Only an owner can invite people.")
    if role not in {r.value for r in Role}:
        raise ValidationError({"role": "Role must be owner or editor."})
    invitation = Invitation(
        token=secrets.token_urlsafe(32),
        organisation=org,
        role=role,
        created_by=actor,
        expires_at=utcnow() + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation


def get_open_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(select(Invitation).where(Invitation.token == token))
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at < utcnow()
    ):
        raise NotFound("This invitation is not valid: it may have been used, revoked or expired.")
    return invitation


def accept_invitation(user: User, token: str) -> Membership:
    invitation = get_open_invitation(token)
    existing = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == invitation.organisation_id
        )
    )
    invitation.accepted_by_id = user.id
    invitation.accepted_at = utcnow()
    if existing is not None:
        return existing
    membership = Membership(user=user, organisation=invitation.organisation, role=invitation.role)
    db.session.add(membership)
    db.session.flush()
    return membership


def revoke_invitation(actor: User, invitation: Invitation) -> None:
    if not is_owner(actor, invitation.organisation):
        raise Forbidden("Only an owner can revoke invitations.")
    if not invitation_is_open(invitation):
        raise ValidationError("This invitation is no longer open: it was used, revoked or expired.")
    invitation.revoked_at = utcnow()
    db.session.flush()


def remove_member(actor: User, org: Organisation, user_id: int) -> None:
    """Owners remove members; anyone may leave. The last owner cannot go."""
    if actor.id != user_id and not is_owner(actor, org):
        raise Forbidden("Only an owner can remove members.")
    membership = db.session.scalar(
        select(Membership).where(
            Membership.organisation_id == org.id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("No such member.")
    if membership.role == Role.OWNER:
        owners = db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.organisation_id == org.id, Membership.role == Role.OWNER
            )
        )
        if (owners or 0) <= 1:
            raise ValidationError(LAST_OWNER)
    db.session.delete(membership)
    db.session.flush()


def open_invitations(org: Organisation) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.organisation_id == org.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at >= utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def get_invitation(org: Organisation, invitation_id: int) -> Invitation:
    """One of `org`'s invitations by id (another organisation's answers NotFound)."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organisation_id != org.id:
        raise NotFound("No such invitation.")
    return invitation


def invitation_is_open(invitation: Invitation) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at >= utcnow()
    )


def members_of(actor: User, org: Organisation) -> list[Membership]:
    """Memberships with their users, owners first; only members may see the list."""
    if not is_member(actor, org) and not getattr(actor, "is_admin", False):
        raise Forbidden("Only members can see who belongs to this organisation.")
    return list(
        db.session.scalars(
            select(Membership)
            .join(User, Membership.user_id == User.id)
            .where(Membership.organisation_id == org.id)
            .order_by(Membership.role.desc(), func.lower(User.display_name), User.id)
        )
    )


def set_member_role(actor: User, org: Organisation, user_id: int, role: str) -> Membership:
    """An owner makes a member owner or editor; the last owner cannot step down."""
    if not is_owner(actor, org):
        raise Forbidden("Only an owner can change roles.")
    if role not in {r.value for r in Role}:
        raise ValidationError({"role": "Role must be owner or editor."})
    membership = db.session.scalar(
        select(Membership).where(
            Membership.organisation_id == org.id, Membership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("No such member.")
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(org) <= 1:
        raise ValidationError(LAST_OWNER)
    membership.role = role
    db.session.flush()
    return membership


def _owner_count(org: Organisation) -> int:
    return (
        db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.organisation_id == org.id, Membership.role == Role.OWNER
            )
        )
        or 0
    )


def user_memberships(user: User) -> list[Membership]:
    """The user's memberships with their organisations, by organisation name."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Organisation, Membership.organisation_id == Organisation.id)
            .where(Membership.user_id == user.id)
            .order_by(func.lower(Organisation.name), Organisation.id)
        )
    )


def organisations_query(kind: str | None = None) -> Select[Organisation]:
    """Every organisation (they are public), by name, optionally of one kind."""
    query = select(Organisation).order_by(func.lower(Organisation.name), Organisation.id)
    if kind:
        query = query.where(Organisation.kind == kind)
    return query


def _newest_first(query: Select) -> Select:
    return query.order_by(func.coalesce(Bid.published_at, Bid.created_at).desc(), Bid.id.desc())


def organisation_bids_query(viewer, org: Organisation) -> Select[Bid]:
    """The organisation's bids `viewer` may read (members also get drafts), newest first."""
    return _newest_first(
        select(Bid).where(Bid.organisation_id == org.id, visibility_clause(viewer))
    )


def bids_received_query(viewer, funder: Organisation) -> Select[Bid]:
    """Bids sent to `funder` that `viewer` may read, newest first."""
    return _newest_first(select(Bid).where(Bid.funder_id == funder.id, visibility_clause(viewer)))


def funders_applied_to(viewer, org: Organisation) -> list[tuple[Organisation, int]]:
    """Distinct funders of the organisation's bids `viewer` may read, with bid counts."""
    bid_count = func.count(Bid.id)
    rows = db.session.execute(
        select(Organisation, bid_count)
        .join(Bid, Bid.funder_id == Organisation.id)
        .where(Bid.organisation_id == org.id, visibility_clause(viewer))
        .group_by(Organisation.id)
        .order_by(bid_count.desc(), func.lower(Organisation.name))
    ).all()
    return [(funder, count) for funder, count in rows]
