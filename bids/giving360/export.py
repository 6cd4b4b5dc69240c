"""Bids out as 360Giving: grants in the standard's JSON shape, a streamed package, and the
flattened CSV with the standard's column titles.

A grant is the bid's columns over what its import kept (`Bid.giving360`), so a package
imported and exported again comes back with its titles, descriptions, amounts, dates,
identifiers, locations, every recipient and funder and the fields Open Bids has no column
for. Identifiers: the bid's own when it is a 360G- id, otherwise the site's prefix
(`OPENBIDS_360G_PREFIX`) and the bid's identifier; organisations by their org-id, a 360G- id
they were given, or the prefix and their slug.

Open Bids' own fields travel in an extension object `openBids` on each grant (the standard
allows additional fields): `permalink`, `licence` (key and URL: records keep their own
licences, so the package states one only when every grant shares it), and, in the all-bids
form, `status`, `amountAppliedFor`, `submittedOn`, `decidedOn` and lineage (`resubmissionOf`,
`alsoSentTo`: identifiers of other bids).

Only awarded bids with an amount awarded and a decision date are grants in the standard's
sense (both are required): `is_grant` says which bids qualify.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from bids.fields import LICENCE_URLS
from bids.giving360.mapping import normalise_name
from bids.giving360.schema_titles import TITLES
from bids.markdown_render import markdown_to_text
from bids.models import Bid, BidStatus, LinkKind, Organisation
from bids.serialize import iso_date, iso_datetime, money_number

DEFAULT_PREFIX = "360G-openbids"
EXTENSION_TITLES = {
    "Open Bids:Permalink": ("openBids", "permalink"),
    "Open Bids:Licence": ("openBids", "licence"),
    "Open Bids:Licence URL": ("openBids", "licenceURL"),
}
# Columns of the flattened CSV: the standard's titles for what Open Bids exports, in order.
CSV_TITLES = (
    "Identifier",
    "Title",
    "Description",
    "Currency",
    "Amount Applied For",
    "Amount Awarded",
    "Award Date",
    "URL",
    "Planned Dates:Start Date",
    "Planned Dates:End Date",
    "Planned Dates:Duration (months)",
    "Recipient Org:Identifier",
    "Recipient Org:Name",
    "Recipient Org:Charity Number",
    "Recipient Org:Company Number",
    "Recipient Org:Postal Code",
    "Beneficiary Location:Name",
    "Beneficiary Location:Country Code",
    "Beneficiary Location:Geographic Code",
    "Beneficiary Location:Geographic Code Type",
    "Funding Org:Identifier",
    "Funding Org:Name",
    "Grant Programme:Code",
    "Grant Programme:Title",
    "From An Open Call?",
    "Classifications:Title",
    "Last Modified",
    "Data Source",
    *EXTENSION_TITLES,
)


def is_grant(bid: Bid) -> bool:
    return (
        bid.status == BidStatus.AWARDED
        and bid.amount_awarded_minor is not None
        and bid.decided_on is not None
    )


def grant_id(bid: Bid, prefix: str) -> str:
    if bid.identifier.upper().startswith("360G-"):
        return bid.identifier
    return f"{prefix}-{bid.identifier}"


def org_id(org: Organisation, prefix: str) -> str:
    if org.org_identifier:
        return org.org_identifier
    own = next((i for i in org.identifiers or [] if i.upper().startswith("360G-")), None)
    return own or f"{prefix}-org-{org.slug}"


def _parties(kept: Any, org: Organisation | None, prefix: str) -> list[dict[str, Any]]:
    """The kept list when its first party is still the bid's organisation; else the bid's."""
    kept = [p for p in kept if isinstance(p, dict)] if isinstance(kept, list) else []
    if org is None:
        return kept
    first = {"id": org_id(org, prefix), "name": org.name}
    if kept:
        ids = {org.org_identifier, *(org.identifiers or [])}
        if kept[0].get("id") in ids or normalise_name(
            str(kept[0].get("name", ""))
        ) == normalise_name(org.name):
            return kept
        return [first, *kept[1:]]
    return [first]


def bid_to_grant(  # noqa: C901 - one flat branch per optional 360Giving field
    bid: Bid, *, prefix: str = DEFAULT_PREFIX, permalink: str | None = None, all_bids: bool = False
) -> dict[str, Any]:
    """One bid as a 360Giving grant (valid against the standard when `is_grant(bid)`)."""
    kept = dict(bid.giving360 or {})
    grant: dict[str, Any] = {"id": grant_id(bid, prefix), "title": bid.title}
    description = bid.body if kept else (markdown_to_text(bid.body) or bid.summary)
    grant["description"] = description or bid.summary or bid.title
    grant["currency"] = bid.currency
    if bid.amount_requested_minor is not None:
        grant["amountAppliedFor"] = money_number(bid.amount_requested)
    if bid.amount_awarded_minor is not None:
        grant["amountAwarded"] = money_number(bid.amount_awarded)
    if bid.decided_on:
        grant["awardDate"] = bid.decided_on.isoformat()
    # A bid written here links its page; an imported grant keeps the publisher's (or none).
    url = bid.source_url or kept.pop("url", None) or (None if kept else permalink)
    if url:
        grant["url"] = url
    kept.pop("url", None)
    for key, value in kept.items():
        grant.setdefault(key, value)
    grant["recipientOrganization"] = _parties(
        kept.get("recipientOrganization"), bid.organisation, prefix
    )
    grant["fundingOrganization"] = _parties(kept.get("fundingOrganization"), bid.funder, prefix)
    if not grant["fundingOrganization"]:
        del grant["fundingOrganization"]
    planned = [dict(p) for p in kept.get("plannedDates") or [] if isinstance(p, dict)] or [{}]
    for key, value in (
        ("startDate", iso_date(bid.planned_start_on)),
        ("endDate", iso_date(bid.planned_end_on)),
    ):
        # The publisher's own form (a date-time) is kept while it is still the same day.
        if value is not None and str(planned[0].get(key, ""))[:10] != value:
            planned[0][key] = value
    if bid.duration_months is not None and not isinstance(planned[0].get("duration"), (int, float)):
        planned[0]["duration"] = bid.duration_months
    if planned != [{}]:
        grant["plannedDates"] = planned
    if "classifications" not in kept and bid.themes:
        grant["classifications"] = [{"title": theme} for theme in bid.themes]
    if "beneficiaryLocation" not in kept and bid.locations:
        grant["beneficiaryLocation"] = [{"name": name} for name in bid.locations]
    if "grantProgramme" not in kept and bid.programme:
        grant["grantProgramme"] = [{"title": bid.programme}]
    if bid.from_open_call is not None:
        grant["fromOpenCall"] = "Yes" if bid.from_open_call else "No"
    if bid.data_source:
        grant["dataSource"] = bid.data_source
    modified = bid.source_modified_at or bid.updated_at
    if modified:
        grant["dateModified"] = iso_datetime(modified)
    grant["openBids"] = own_fields(bid, permalink, all_bids=all_bids)
    return grant


def own_fields(bid: Bid, permalink: str | None, *, all_bids: bool) -> dict[str, Any]:
    """The `openBids` extension object: licence and permalink always; the rest for all bids."""
    out: dict[str, Any] = {
        "permalink": permalink,
        "licence": bid.licence,
        "licenceURL": LICENCE_URLS.get(bid.licence),
    }
    if all_bids:
        out.update(
            {
                "status": bid.status,
                "amountAppliedFor": money_number(bid.amount_requested),
                "submittedOn": iso_date(bid.submitted_on),
                "decidedOn": iso_date(bid.decided_on),
                "resubmissionOf": [
                    link.to_bid.identifier
                    for link in bid.links
                    if link.kind == LinkKind.RESUBMISSION_OF
                ],
                "alsoSentTo": [
                    link.to_bid.identifier
                    for link in bid.links
                    if link.kind == LinkKind.ALSO_SENT_TO
                ],
            }
        )
    return out


def package_chunks(
    grants: Iterable[dict[str, Any]], *, publisher: dict[str, Any], title: str = "Open Bids grants"
) -> Iterator[str]:
    """A 360Giving package, a grant at a time. `license` comes last: it is stated only when
    every grant has the same licence (each grant carries its own in `openBids`)."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"
    head = {"version": "1.4", "title": title, "modified": now, "publisher": publisher}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "grants": ['
    licences: set[str | None] = set()
    for count, grant in enumerate(grants):
        licences.add(grant["openBids"].get("licenceURL"))
        yield ("," if count else "") + "\n" + json.dumps(grant, ensure_ascii=False)
    tail = "\n]"
    if len(licences) == 1 and None not in licences:
        tail += ', "license": ' + json.dumps(licences.pop())
    yield tail + "}\n"


def _cell(grant: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = grant
    for key in path:
        if isinstance(node, list):
            node = node[0] if node else None
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, list):
        node = "; ".join(str(v) for v in node if not isinstance(v, (dict, list)))
    return node


def csv_chunks(grants: Iterable[dict[str, Any]], rows_per_chunk: int = 200) -> Iterator[str]:
    """The flattened form: one row a grant, the first of each list, the standard's titles."""
    paths = [TITLES.get(t) or EXTENSION_TITLES.get(t) or _title_path(t) for t in CSV_TITLES]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_TITLES)
    for n, grant in enumerate(grants, start=1):
        writer.writerow([_safe(_cell(grant, path)) for path in paths])
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _title_path(title: str) -> tuple[str, ...]:
    for known, path in TITLES.items():
        if known.casefold() == title.casefold():
            return path
    raise KeyError(title)


def _safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula is prefixed with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _numeric(value):
        return "'" + value
    return "" if value is None else value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def grants_of(
    bids: Iterable[Bid],
    *,
    prefix: str,
    permalink: Callable[[Bid], str | None],
    all_bids: bool = False,
) -> Iterator[dict[str, Any]]:
    for bid in bids:
        if all_bids or is_grant(bid):
            yield bid_to_grant(bid, prefix=prefix, permalink=permalink(bid), all_bids=all_bids)
