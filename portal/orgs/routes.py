"""Routes of the orgs area."""

from portal.orgs import bp  # noqa: F401
