"""create-user and create-token."""

from __future__ import annotations

import sys

import click

from bids.accounts import create_api_token, create_user, get_user_by_email
from bids.database import db
from bids.errors import ValidationError
from bids.models import Membership, OrgKind, Role
from bids.organisations import find_or_create_organisation


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--org", "org_name", help="Organisation to own (created when new).")
@click.option("--org-kind", type=click.Choice([k.value for k in OrgKind]), default="applicant")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create_user_command(email: str, name: str, org_name: str | None, org_kind: str, admin: bool):
    """Create a user; the password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = create_user(email, name, password, is_admin=admin)
        if org_name:
            org = find_or_create_organisation(org_name, kind=org_kind)
            db.session.add(Membership(user=user, organisation=org, role=Role.OWNER))
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.email}" + (f", owner of {org_name}" if org_name else ""))


@click.command("create-token")
@click.argument("email")
@click.option("--name", default="CLI token", help="A label to recognise the token by.")
def create_token_command(email: str, name: str):
    """Print a new API token for EMAIL (shown once)."""
    user = get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    _, secret = create_api_token(user, name)
    db.session.commit()
    click.echo(secret)


COMMANDS = [create_user_command, create_token_command]
