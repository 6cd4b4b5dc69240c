"""The 360Giving standard's column titles for its flattened (CSV/XLSX) form.

`TITLES` maps each title to the JSON path it stands for, a tuple of property names, as the
standard's own conversion tool (flattentool) derives them from the grant schema: a field's
`title`, prefixed by its parents' titles and ':'. `titles_from_schema` derives the same map
from a schema document; a test checks the constant against the standard's schema file.
Arrays of objects (recipients, locations, ...) take their first item from a title; a title
repeated in a header row gives the next item.
"""

from __future__ import annotations

from typing import Any

Path = tuple[str, ...]

# Properties that are arrays of objects in the grant schema: a flattened title fills an item.
ARRAY_FIELDS = frozenset(
    {
        "plannedDates",
        "actualDates",
        "recipientOrganization",
        "beneficiaryLocation",
        "fundingOrganization",
        "grantProgramme",
        "fundingType",
        "classifications",
        "relatedDocument",
        "applicationTransaction",
        "commitmentTransaction",
        "disbursementTransaction",
    }
)
# Numbers in the schema: flattened cells are text and become numbers.
NUMBER_LEAVES = frozenset(
    {
        ("amountAppliedFor",),
        ("amountAwarded",),
        ("amountDisbursed",),
        ("plannedDates", "duration"),
        ("actualDates", "duration"),
        ("recipientOrganization", "location", "latitude"),
        ("recipientOrganization", "location", "longitude"),
        ("fundingOrganization", "location", "latitude"),
        ("fundingOrganization", "location", "longitude"),
        ("beneficiaryLocation", "latitude"),
        ("beneficiaryLocation", "longitude"),
        ("applicationTransaction", "value"),
        ("commitmentTransaction", "value"),
        ("disbursementTransaction", "value"),
    }
)


def titles_from_schema(schema: dict[str, Any]) -> dict[str, Path]:
    """Title -> path for every leaf of the grant schema (arrays of strings are leaves)."""
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return defs[ref.rsplit("/", 1)[-1]] if ref else node

    out: dict[str, Path] = {}

    def walk(node: dict[str, Any], title: str, path: Path) -> None:
        node = resolve(node)
        items = node.get("items")
        props = node.get("properties") or (resolve(items).get("properties") if items else None)
        if not props:
            out[title] = path
            return
        for key, child in props.items():
            child_title = child.get("title", key)
            walk(child, f"{title}:{child_title}" if title else child_title, (*path, key))

    walk(schema, "", ())
    return out


TITLES: dict[str, Path] = {
    "Identifier": ("id",),
    "Title": ("title",),
    "Description": ("description",),
    "currency": ("currency",),
    "Amount Applied For": ("amountAppliedFor",),
    "Amount Awarded": ("amountAwarded",),
    "Amount Disbursed": ("amountDisbursed",),
    "Award Date": ("awardDate",),
    "URL": ("url",),
    "Planned Dates:Title": ("plannedDates", "title"),
    "Planned Dates:Start Date": ("plannedDates", "startDate"),
    "Planned Dates:End Date": ("plannedDates", "endDate"),
    "Planned Dates:Duration (months)": ("plannedDates", "duration"),
    "Planned Dates:Description": ("plannedDates", "description"),
    "Planned Dates:Last Modified": ("plannedDates", "dateModified"),
    "Actual Dates:Title": ("actualDates", "title"),
    "Actual Dates:Start Date": ("actualDates", "startDate"),
    "Actual Dates:End Date": ("actualDates", "endDate"),
    "Actual Dates:Duration (months)": ("actualDates", "duration"),
    "Actual Dates:Description": ("actualDates", "description"),
    "Actual Dates:Last Modified": ("actualDates", "dateModified"),
    "Recipient Ind:Identifier": ("recipientIndividual", "id"),
    "Recipient Ind:Name": ("recipientIndividual", "name"),
    "To Individuals Details:Primary Grant Reason": ("toIndividualsDetails", "primaryGrantReason"),
    "To Individuals Details:Secondary Grant Reason": (
        "toIndividualsDetails",
        "secondaryGrantReason",
    ),
    "To Individuals Details:Grant Purpose": ("toIndividualsDetails", "grantPurpose"),
    "Recipient Org:Identifier": ("recipientOrganization", "id"),
    "Recipient Org:Name": ("recipientOrganization", "name"),
    "Recipient Org:Department": ("recipientOrganization", "department"),
    "Recipient Org:Contact Name": ("recipientOrganization", "contactName"),
    "Recipient Org:Charity Number": ("recipientOrganization", "charityNumber"),
    "Recipient Org:Company Number": ("recipientOrganization", "companyNumber"),
    "Recipient Org:Street Address": ("recipientOrganization", "streetAddress"),
    "Recipient Org:City": ("recipientOrganization", "addressLocality"),
    "Recipient Org:County": ("recipientOrganization", "addressRegion"),
    "Recipient Org:Country": ("recipientOrganization", "addressCountry"),
    "Recipient Org:Postal Code": ("recipientOrganization", "postalCode"),
    "Recipient Org:Phone Number": ("recipientOrganization", "telephone"),
    "Recipient Org:Alternate Name": ("recipientOrganization", "alternateName"),
    "Recipient Org:Email": ("recipientOrganization", "email"),
    "Recipient Org:Description": ("recipientOrganization", "description"),
    "Recipient Org:Organisation Type": ("recipientOrganization", "organisationType"),
    "Recipient Org:Web Address": ("recipientOrganization", "url"),
    "Recipient Org:Location:Identifier": ("recipientOrganization", "location", "id"),
    "Recipient Org:Location:Name": ("recipientOrganization", "location", "name"),
    "Recipient Org:Location:Country Code": ("recipientOrganization", "location", "countryCode"),
    "Recipient Org:Location:Latitude": ("recipientOrganization", "location", "latitude"),
    "Recipient Org:Location:Longitude": ("recipientOrganization", "location", "longitude"),
    "Recipient Org:Location:Description": ("recipientOrganization", "location", "description"),
    "Recipient Org:Location:Geographic Code": ("recipientOrganization", "location", "geoCode"),
    "Recipient Org:Location:Geographic Code Type": (
        "recipientOrganization",
        "location",
        "geoCodeType",
    ),
    "Recipient Org:Location:Last Modified": ("recipientOrganization", "location", "dateModified"),
    "Recipient Org:Last Modified": ("recipientOrganization", "dateModified"),
    "Beneficiary Location:Identifier": ("beneficiaryLocation", "id"),
    "Beneficiary Location:Name": ("beneficiaryLocation", "name"),
    "Beneficiary Location:Country Code": ("beneficiaryLocation", "countryCode"),
    "Beneficiary Location:Latitude": ("beneficiaryLocation", "latitude"),
    "Beneficiary Location:Longitude": ("beneficiaryLocation", "longitude"),
    "Beneficiary Location:Description": ("beneficiaryLocation", "description"),
    "Beneficiary Location:Geographic Code": ("beneficiaryLocation", "geoCode"),
    "Beneficiary Location:Geographic Code Type": ("beneficiaryLocation", "geoCodeType"),
    "Beneficiary Location:Last Modified": ("beneficiaryLocation", "dateModified"),
    "Funding Org:Identifier": ("fundingOrganization", "id"),
    "Funding Org:Name": ("fundingOrganization", "name"),
    "Funding Org:Department": ("fundingOrganization", "department"),
    "Funding Org:Contact Name": ("fundingOrganization", "contactName"),
    "Funding Org:Charity Number": ("fundingOrganization", "charityNumber"),
    "Funding Org:Company Number": ("fundingOrganization", "companyNumber"),
    "Funding Org:Street Address": ("fundingOrganization", "streetAddress"),
    "Funding Org:City": ("fundingOrganization", "addressLocality"),
    "Funding Org:County": ("fundingOrganization", "addressRegion"),
    "Funding Org:Country": ("fundingOrganization", "addressCountry"),
    "Funding Org:Postal Code": ("fundingOrganization", "postalCode"),
    "Funding Org:Phone Number": ("fundingOrganization", "telephone"),
    "Funding Org:Alternate Name": ("fundingOrganization", "alternateName"),
    "Funding Org:Email": ("fundingOrganization", "email"),
    "Funding Org:Description": ("fundingOrganization", "description"),
    "Funding Org:Organisation Type": ("fundingOrganization", "organisationType"),
    "Funding Org:Web Address": ("fundingOrganization", "url"),
    "Funding Org:Location:Identifier": ("fundingOrganization", "location", "id"),
    "Funding Org:Location:Name": ("fundingOrganization", "location", "name"),
    "Funding Org:Location:Country Code": ("fundingOrganization", "location", "countryCode"),
    "Funding Org:Location:Latitude": ("fundingOrganization", "location", "latitude"),
    "Funding Org:Location:Longitude": ("fundingOrganization", "location", "longitude"),
    "Funding Org:Location:Description": ("fundingOrganization", "location", "description"),
    "Funding Org:Location:Geographic Code": ("fundingOrganization", "location", "geoCode"),
    "Funding Org:Location:Geographic Code Type": ("fundingOrganization", "location", "geoCodeType"),
    "Funding Org:Location:Last Modified": ("fundingOrganization", "location", "dateModified"),
    "Funding Org:Last Modified": ("fundingOrganization", "dateModified"),
    "Grant Programme:Code": ("grantProgramme", "code"),
    "Grant Programme:Title": ("grantProgramme", "title"),
    "Grant Programme:Description": ("grantProgramme", "description"),
    "Grant Programme:URL": ("grantProgramme", "url"),
    "Grant Programme:Last Modified": ("grantProgramme", "dateModified"),
    "From An Open Call?": ("fromOpenCall",),
    "Funding Type:Vocabulary": ("fundingType", "vocabulary"),
    "Funding Type:Code": ("fundingType", "code"),
    "Funding Type:Title": ("fundingType", "title"),
    "Funding Type:Description": ("fundingType", "description"),
    "Funding Type:URL": ("fundingType", "url"),
    "Funding Type:Last Modified": ("fundingType", "dateModified"),
    "Classifications:Vocabulary": ("classifications", "vocabulary"),
    "Classifications:Code": ("classifications", "code"),
    "Classifications:Title": ("classifications", "title"),
    "Classifications:Description": ("classifications", "description"),
    "Classifications:URL": ("classifications", "url"),
    "Classifications:Last Modified": ("classifications", "dateModified"),
    "Related Document:Identifier": ("relatedDocument", "id"),
    "Related Document:Title": ("relatedDocument", "title"),
    "Related Document:Web Address": ("relatedDocument", "url"),
    "Related Document:Description": ("relatedDocument", "description"),
    "Related Document:Document Type": ("relatedDocument", "documentType"),
    "Related Document:Last Modified": ("relatedDocument", "dateModified"),
    "applicationTransaction:Identifier": ("applicationTransaction", "id"),
    "applicationTransaction:Transaction Date": ("applicationTransaction", "transactionDate"),
    "applicationTransaction:currency": ("applicationTransaction", "currency"),
    "applicationTransaction:Value": ("applicationTransaction", "value"),
    "applicationTransaction:Value Date": ("applicationTransaction", "valueDate"),
    "applicationTransaction:Description": ("applicationTransaction", "description"),
    "applicationTransaction:Provider": ("applicationTransaction", "provider"),
    "applicationTransaction:Recipient": ("applicationTransaction", "recipient"),
    "applicationTransaction:Last Modified": ("applicationTransaction", "dateModified"),
    "commitmentTransaction:Identifier": ("commitmentTransaction", "id"),
    "commitmentTransaction:Transaction Date": ("commitmentTransaction", "transactionDate"),
    "commitmentTransaction:currency": ("commitmentTransaction", "currency"),
    "commitmentTransaction:Value": ("commitmentTransaction", "value"),
    "commitmentTransaction:Value Date": ("commitmentTransaction", "valueDate"),
    "commitmentTransaction:Description": ("commitmentTransaction", "description"),
    "commitmentTransaction:Provider": ("commitmentTransaction", "provider"),
    "commitmentTransaction:Recipient": ("commitmentTransaction", "recipient"),
    "commitmentTransaction:Last Modified": ("commitmentTransaction", "dateModified"),
    "disbursementTransaction:Identifier": ("disbursementTransaction", "id"),
    "disbursementTransaction:Transaction Date": ("disbursementTransaction", "transactionDate"),
    "disbursementTransaction:currency": ("disbursementTransaction", "currency"),
    "disbursementTransaction:Value": ("disbursementTransaction", "value"),
    "disbursementTransaction:Value Date": ("disbursementTransaction", "valueDate"),
    "disbursementTransaction:Description": ("disbursementTransaction", "description"),
    "disbursementTransaction:Provider": ("disbursementTransaction", "provider"),
    "disbursementTransaction:Recipient": ("disbursementTransaction", "recipient"),
    "disbursementTransaction:Last Modified": ("disbursementTransaction", "dateModified"),
    "Related Activity": ("relatedActivity",),
    "Last Modified": ("dateModified",),
    "Data Source": ("dataSource",),
    "For Regrant Type": ("regrantType",),
    "Location Scope": ("locationScope",),
}
