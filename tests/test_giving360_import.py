"""360Giving in: streamed packages, flattened CSV/XLSX with the standard's titles, publishers'
quirks, organisations matched by identifier and normalised name, nothing invented."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from bids.giving360.load import import_360giving
from bids.giving360.mapping import INDIVIDUAL, grant_to_record, licence_from, normalise_name
from bids.giving360.reader import FileError, GrantReader, Problem
from bids.giving360.schema_titles import TITLES, titles_from_schema
from bids.models import Bid, Organisation, OrgKind
from tests.conftest import SHARED_DATA

UK = SHARED_DATA / "uk360giving"


def grant(n: int, **extra) -> dict:
    base = {
        "id": f"360G-test-{n}",
        "title": f"Grant {n}",
        "description": f"What grant {n} is for.",
        "currency": "GBP",
        "amountAwarded": 1000 + n,
        "awardDate": "2019-05-01",
        "recipientOrganization": [{"id": f"GB-CHC-{100000 + n}", "name": f"Charity {n}"}],
        "fundingOrganization": [{"id": "GB-CHC-999999", "name": "The Example Foundation"}],
    }
    base.update(extra)
    return base


def write_package(path, grants, **package):
    path.write_text(json.dumps({"grants": grants, **package}), encoding="utf-8")
    return path


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


# --- Reading -------------------------------------------------------------------------------


def test_title_map_is_the_one_derived_from_the_standards_schema():
    schema = json.loads((UK / "schema" / "360-giving-schema.json").read_text())
    assert titles_from_schema(schema) == TITLES


def test_package_fields_after_the_grants_are_read(tmp_path):
    path = write_package(
        tmp_path / "p.json",
        [grant(1)],
        license="https://creativecommons.org/publicdomain/zero/1.0/",
    )
    reader = GrantReader(path)
    grants = list(reader.grants())
    assert reader.package["license"].endswith("/zero/1.0/")
    assert [g["id"] for _n, g in grants] == ["360G-test-1"]


def test_flattened_csv_with_the_standards_titles_and_publishers_quirks(tmp_path):
    path = write_csv(
        tmp_path / "g.csv",
        [
            [
                "Identifier",
                "Title",
                "Description",
                "Currency",
                "Amount Awarded",
                "Award Date",
                "Recipient Org:Identifier",
                "Recipient Org:Name",
                "Funding Org:Identifier",
                "Funding Org:Name",
                "Planned Dates:Duration (months)",
                "From an open call?",
                "Beneficiary Location:Name",
                "Beneficiary Location:Geographic Code",
            ],
            [
                "360G-x-1",
                "One",
                "Text one",
                "GBP",
                "£10,000",
                "26/03/2001",
                "GB-CHC-1",
                "A",
                "360G-x",
                "X Trust",
                "12 months",
                "Y",
                "Leeds",
                "E08000035",
            ],
            [
                "360G-x-2",
                "Two",
                "Text two",
                "GBP",
                "500",
                "02/12/2003 00:00",
                "GB-CHC-2",
                "B",
                "360G-x",
                "X Trust",
                "1 year",
                "n",
                "",
                "",
            ],
        ],
    )
    reader = GrantReader(path)
    first, second = [g for _n, g in reader.grants()]
    assert first["amountAwarded"] == 10000 and first["awardDate"] == "2001-03-26"
    assert first["plannedDates"] == [{"duration": 12}] and first["fromOpenCall"] == "Yes"
    assert first["beneficiaryLocation"] == [{"name": "Leeds", "geoCode": "E08000035"}]
    assert first["recipientOrganization"] == [{"id": "GB-CHC-1", "name": "A"}]
    # 02/12/2003 alone could be either; the file's 26/03/2001 says the day comes first.
    assert second["awardDate"] == "2003-12-02" and second["fromOpenCall"] == "No"
    assert second["plannedDates"] == [{"duration": 12}]
    notes = "\n".join(reader.notes.lines())
    assert "dd/mm/yyyy dates in 'Award Date'" in notes
    assert "open-call answers" in notes and "durations written with a unit" in notes


def test_ambiguous_and_unreadable_cells_are_refused_with_line_and_column(tmp_path):
    path = write_csv(
        tmp_path / "g.csv",
        [
            ["Identifier", "Title", "Award Date", "From an open call?"],
            ["360G-x-1", "One", "02/03/2004", "Yes"],
            ["360G-x-2", "Two\nstill two", "2004-03-02", "Perhaps"],
            ["360G-x-3", "Three", "2004-03-02", "No"],
        ],
    )
    results = list(GrantReader(path).grants())
    problems = [r for _n, r in results if isinstance(r, Problem)]
    assert [str(p) for p in problems] == [
        "line 2: column 'Award Date': '02/03/2004' could be day/month or month/day and no "
        "other date in the file says which (write YYYY-MM-DD)",
        "line 3: column 'From an open call?': 'Perhaps' is not Yes or No",
    ]
    # The quoted cell over two lines: the next row is line 5.
    assert results[2][0] == 5 and results[2][1]["id"] == "360G-x-3"


def test_a_csv_without_the_standards_titles_is_refused(tmp_path):
    path = write_csv(tmp_path / "g.csv", [["name", "amount"], ["x", "1"]])
    with pytest.raises(FileError, match="Title"):
        list(GrantReader(path).grants())


def test_xlsx_rows_are_numbered_by_sheet_and_row(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "grants"
    sheet.append(["Identifier", "Title", "Amount Awarded"])
    sheet.append(["360G-x-1", "One", "lots"])
    book.save(tmp_path / "g.xlsx")
    [(number, problem)] = list(GrantReader(tmp_path / "g.xlsx").grants())
    assert str(problem) == "sheet \"grants\" row 2: column 'Amount Awarded': 'lots' is not a number"


# --- Mapping -------------------------------------------------------------------------------


def test_names_compare_without_case_punctuation_or_a_leading_the():
    assert (
        normalise_name("The National Lottery Community Fund")
        == normalise_name("National Lottery Community Fund")
        == normalise_name("national lottery community fund, The")
    )
    assert normalise_name("Arts & Crafts") == normalise_name("Arts and Crafts")
    assert normalise_name("Theatre Royal") != normalise_name("Royal")


def test_licences_from_urls_and_keys():
    assert licence_from("https://creativecommons.org/licenses/by/4.0/") == "CC-BY-4.0"
    assert licence_from("http://creativecommons.org/licenses/by/4.0") == "CC-BY-4.0"
    assert licence_from("ODC-PDDL-1.0") == "PDDL-1.0"
    assert licence_from("CC-BY-4.0 | CC-BY-SA-4.0") is None


def test_grant_to_record_keeps_everything_and_invents_nothing():
    record = grant_to_record(
        grant(
            1,
            plannedDates=[{"startDate": "2019-06-01", "endDate": "2020-05-31", "duration": 12}],
            classifications=[{"title": "Health", "vocabulary": "x"}],
            beneficiaryLocation=[{"name": "Leeds", "geoCode": "E08000035", "geoCodeType": "LAD"}],
            fromOpenCall="No",
            dataSource="https://example.org/data.json",
            dateModified="2020-01-02T03:04:05+01:00",
            recipientOrganization=[
                {"id": "360G-test-org-1", "name": "A"},
                {"id": "GB-CHC-2", "name": "B"},
            ],
        ),
        None,
    )
    assert record["duration_months"] == 12 and str(record["planned_start_on"]) == "2019-06-01"
    assert record["themes"] == ["Health"] and record["locations"] == ["Leeds"]
    assert record["from_open_call"] is False
    assert str(record["source_modified_at"]) == "2020-01-02 02:04:05"
    assert record["organisation"] == {
        "name": "A",
        "identifier": None,
        "identifiers": ["360G-test-org-1"],
    }
    kept = record["giving360"]
    assert kept["beneficiaryLocation"][0]["geoCode"] == "E08000035"
    assert [o["name"] for o in kept["recipientOrganization"]] == ["A", "B"]
    assert "licence" not in record and record.get("submitted_on") is None


def test_grants_to_individuals_are_skipped():
    individual = grant(1, recipientIndividual={"id": "360G-x-ind-1", "name": "Individual"})
    del individual["recipientOrganization"]
    assert grant_to_record(individual, "CC0-1.0") is INDIVIDUAL


# --- Importing -----------------------------------------------------------------------------


def test_a_file_that_states_no_licence_needs_one(app, tmp_path):
    path = write_package(tmp_path / "p.json", [grant(1)])
    with pytest.raises(FileError, match="--licence"):
        import_360giving(path)
    report = import_360giving(path, licence="CC0-1.0")
    assert report.imported == 1
    assert app.extensions["sqlalchemy"].session.scalar(select(Bid.licence)) == "CC0-1.0"


def test_import_matches_organisations_and_makes_funders_funders(app, db, tmp_path):
    existing = Organisation(name="National Lottery Community Fund", slug="nlcf")
    db.session.add(existing)
    db.session.commit()
    grants = [
        # A funder first seen as a recipient is still a funder.
        grant(
            1,
            recipientOrganization=[{"id": "GB-CHC-999999", "name": "Example Foundation"}],
            fundingOrganization=[{"id": "360G-other", "name": "Other Trust"}],
        ),
        grant(
            2,
            fundingOrganization=[
                {"id": "360G-nlcf", "name": "The National Lottery Community Fund"}
            ],
        ),
        grant(3, fundingOrganization=[{"id": "360G-nlcf", "name": "Big Lottery Fund"}]),
        grant(4),
        {
            **grant(5),
            "recipientIndividual": {"id": "360G-i", "name": "Someone"},
            "recipientOrganization": [],
        },
    ]
    path = write_package(
        tmp_path / "p.json", grants, license="https://creativecommons.org/licenses/by/4.0/"
    )
    report = import_360giving(path)
    assert (report.imported, report.skipped) == (4, 1)
    assert "Skipped 1 grants to individuals" in report.summary()
    orgs = {o.name: o for o in db.session.scalars(select(Organisation))}
    assert set(orgs) == {
        "National Lottery Community Fund",
        "Example Foundation",
        "Other Trust",
        "Charity 2",
        "Charity 3",
        "Charity 4",
    }
    assert orgs["Example Foundation"].kind == OrgKind.FUNDER
    assert orgs["Example Foundation"].org_identifier == "GB-CHC-999999"
    assert orgs["National Lottery Community Fund"].kind == OrgKind.FUNDER
    assert orgs["National Lottery Community Fund"].identifiers == ["360G-nlcf"]
    by_id = {b.identifier: b for b in db.session.scalars(select(Bid))}
    # Found by its 360G- id whatever the name it goes by in the file.
    assert by_id["360G-test-3"].funder_id == existing.id
    assert by_id["360G-test-4"].funder_id == orgs["Example Foundation"].id
    assert all(b.licence == "CC-BY-4.0" and b.submitted_on is None for b in by_id.values())


def test_dry_run_writes_nothing(app, db, tmp_path):
    path = write_package(tmp_path / "p.json", [grant(1), grant(2)])
    report = import_360giving(path, licence="CC-BY-4.0", dry_run=True)
    assert report.imported == 2 and "Dry run" in report.summary()
    assert db.session.scalar(select(func.count(Bid.id))) == 0
    assert db.session.scalar(select(func.count(Organisation.id))) == 0


def test_reimport_updates_the_360giving_columns(app, db, tmp_path):
    path = write_package(tmp_path / "p.json", [grant(1, fromOpenCall="Yes")])
    import_360giving(path, licence="CC-BY-4.0")
    write_package(path, [grant(1, fromOpenCall="No")])
    import_360giving(path, licence="CC-BY-4.0")
    assert db.session.scalar(select(Bid.from_open_call)) is False


def provenance_licences() -> dict[str, str]:
    with (UK / "provenance.csv").open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row["licence"] for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_the_shared_uk_grants_import_with_nothing_lost(app, db):
    with gzip.open(UK / "grants.json.gz", "rt", encoding="utf-8") as handle:
        source = {g["id"].strip(): g for g in json.load(handle)["grants"]}
    licences = provenance_licences()
    report = import_360giving(UK / "grants.json.gz", fmt="json", licences=licences)
    dual = sum(
        1 for i, g in source.items() if "|" in licences[g["id"]] and g.get("recipientOrganization")
    )
    individuals = sum(1 for g in source.values() if not g.get("recipientOrganization"))
    assert report.skipped_kinds[INDIVIDUAL.reason] == individuals == 26
    assert report.imported + report.skipped == len(source) == 8551
    # Besides individuals, every grant skipped is for a stated reason of these kinds: two
    # licences in the registry, an id with characters (spaces) Open Bids identifiers cannot
    # hold, amounts in fractions of a penny.
    reasons = Counter(p.reason.split(":", 1)[0] for p in report.problems)
    assert set(reasons) <= {"licence", "identifier", "amount_requested"}
    assert reasons["licence"] == dual
    assert sum(reasons.values()) == report.skipped - individuals
    bids = {b.identifier: b for b in db.session.scalars(select(Bid))}
    assert len(bids) == report.imported
    for identifier, bid in bids.items():
        g = source[identifier]
        planned = (g.get("plannedDates") or [{}])[0]
        assert str(bid.planned_start_on or "") == (planned.get("startDate") or "")[:10]
        assert bid.from_open_call == {"Yes": True, "No": False}.get(g.get("fromOpenCall"))
        assert bid.data_source == g.get("dataSource")
        assert (bid.source_modified_at is None) == ("dateModified" not in g)
        assert bid.giving360.get("beneficiaryLocation") == g.get("beneficiaryLocation")
        assert bid.giving360.get("fundingOrganization") == g["fundingOrganization"]
        assert bid.giving360.get("classifications") == g.get("classifications")
        assert bid.licence == licences[g["id"]].replace("ODC-", "")
    with_duration = sum(1 for b in bids.values() if b.duration_months)
    assert with_duration > 6000
    assert sum(1 for b in bids.values() if b.themes) > 500
    funders = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.FUNDER))
    assert sum(1 for _ in funders) <= 82


@pytest.mark.slow
def test_the_indigo_trust_csv_imports_with_its_quirks_reported(app, db):
    report = import_360giving(UK / "spreadsheets" / "indigo-trust-2001-2015.csv", licence="CC0-1.0")
    assert (report.imported, report.skipped) == (269, 0)
    summary = report.summary()
    assert "dd/mm/yyyy dates in 'Award Date'" in summary and "'12 months' -> 12" in summary
    assert (
        db.session.scalar(select(func.count(Bid.id)).where(Bid.duration_months.is_not(None))) == 266
    )


@pytest.mark.slow
def test_the_lloyds_spreadsheet_imports_with_its_quirks_reported(app, db):
    report = import_360giving(
        UK / "spreadsheets" / "lloyds-bank-foundation-2010-2015.xlsx", licence="CC-BY-4.0"
    )
    assert report.imported + report.skipped == 4116
    assert "open-call answers in 'From an open call?' (e.g. 'Y' -> 'Yes')" in report.summary()
    # The rows the publisher left without a description (360Giving requires one) are refused.
    assert {p.reason for p in report.problems} == {
        "body: Write a summary or a body: a bid needs some text."
    }
    assert all(p.where == 'sheet "grants" row' for p in report.problems)
    assert (
        db.session.scalar(select(func.count(Bid.id)).where(Bid.from_open_call.is_not(None)))
        == report.imported
    )
