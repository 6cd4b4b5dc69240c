"""Routes of the pools area."""

from portal.pools import bp  # noqa: F401
