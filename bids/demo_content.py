"""The demo's organisations, people, bids and funders' pool, read from the files in `bids/demo/`.

One Markdown file a bid (the body, after YAML front matter with the other fields and its
`links` to other demo bids), and JSON for the organisations, the people and the pool. Every
organisation except The Relationships Project and The National Lottery Community Fund is
fictional; no charity numbers are given. The Collective's bid is restated in our own words
from what The Relationships Project published.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import frontmatter

DEMO = files("bids") / "demo"
COLLECTIVE_ID = "demo-trp-bringing-people-together-2022"


def _json(name: str) -> Any:
    return json.loads((DEMO / name).read_text(encoding="utf-8"))


def _bid(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A bid's fields (as `create_bid` takes them, plus its organisation) and its links."""
    post = frontmatter.loads(text)
    spec: dict[str, Any] = dict(post.metadata)
    links: dict[str, str] = spec.pop("links", None) or {}
    spec["body"] = post.content + "\n"
    return spec, links


def _bids() -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    bids, links = [], []
    paths = sorted((p for p in DEMO.iterdir() if p.name.endswith(".md")), key=lambda p: p.name)
    for path in paths:  # the number a file name starts with keeps the seeding order
        spec, bid_links = _bid(path.read_text(encoding="utf-8"))
        bids.append(spec)
        links += [(spec["identifier"], other, kind) for kind, other in bid_links.items()]
    return bids, links


_organisations = _json("organisations.json")
_people = _json("people.json")
_pool = _json("pool.json")

FUNDERS: list[dict[str, Any]] = _organisations["funders"]
APPLICANTS: list[dict[str, Any]] = _organisations["applicants"]
DEMO_PASSWORD: str = _people["password"]
# email, display name, organisation it belongs to (or None), admin?
PEOPLE = [(p["email"], p["name"], p["organisation"], p["admin"]) for p in _people["people"]]
BIDS, LINKS = _bids()  # LINKS: (from bid, to bid, kind), recorded by the from-bid's organisation
# The pool's founding funder and the funder it invites.
NLCF: str = _pool["founder"]
THISTLE: str = _pool["invited"]
POOL: dict[str, Any] = _pool["pool"]
# (funder, programme): typical awards let the pool spot bids too big for one member.
PROGRAMMES = [
    (p["funder"], {k: v for k, v in p.items() if k != "funder"}) for p in _pool["programmes"]
]
# Who creates each funder's programmes: a person who belongs to it.
FUNDER_PEOPLE = {
    org: email for email, _name, org, _admin in PEOPLE if org in {f["name"] for f in FUNDERS}
}
