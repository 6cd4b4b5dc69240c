"""The funders' pool: programmes, pools, co-funding opportunities, pledges and introductions."""

from bids.pools import models  # noqa: F401  (registers the tables with SQLAlchemy)
