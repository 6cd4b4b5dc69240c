from flask import Blueprint

from search_index.clusters import follow_similarity_changes
from search_index.outbox import follow

bp = Blueprint("pools", __name__)

# Clusters follow the similarity store: each published or changed bid's neighbourhood is redone.
follow("similar", follow_similarity_changes)

from portal.pools import routes  # noqa: E402,F401  (routes attach themselves to bp)
