"""360Giving out: packages valid against the standard's own schemas, the flattened CSV, and a
round trip from a real package back to equal grants."""

from __future__ import annotations

import csv
import gzip
import io
import json
from itertools import islice

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from bids.demo import seed_demo
from bids.giving360.export import CSV_TITLES
from bids.giving360.reader import GrantReader
from portal.commands.imports import import_bids
from tests.conftest import SHARED_DATA

SCHEMA_DIR = SHARED_DATA / "uk360giving" / "schema"
UK_GRANTS = SHARED_DATA / "uk360giving" / "grants.json.gz"


@pytest.fixture(scope="module")
def package_validator():
    grant_schema = json.loads((SCHEMA_DIR / "360-giving-schema.json").read_text())
    package_schema = json.loads((SCHEMA_DIR / "360-giving-package-schema.json").read_text())
    # Their `$schema` is draft 2020-12 written with http://, which `referencing` does not
    # recognise by itself: the dialect is named here.
    resource = DRAFT202012.create_resource(grant_schema)
    # The package schema (1.4.3) refers to the grant schema by its 1.4.2 address.
    ref = package_schema["properties"]["grants"]["items"]["$ref"]
    registry = Registry().with_resources([(grant_schema["$id"], resource), (ref, resource)])
    dialect = "https://json-schema.org/draft/2020-12/schema"
    return Draft202012Validator(
        {**package_schema, "$schema": dialect}, registry=registry, format_checker=FormatChecker()
    )


def errors_of(validator, package) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in islice(validator.iter_errors(package), 5)]


def test_the_validator_refuses_an_invalid_grant(package_validator):
    """The test's own check can fail: a grant without awardDate is not valid."""
    grant = {
        "id": "360G-x-1",
        "title": "t",
        "description": "d",
        "currency": "GBP",
        "amountAwarded": 1,
        "recipientOrganization": [{"id": "GB-CHC-1", "name": "a"}],
        "fundingOrganization": [{"id": "GB-CHC-2", "name": "b"}],
    }
    assert errors_of(package_validator, {"grants": [grant]})
    assert not errors_of(package_validator, {"grants": [{**grant, "awardDate": "2020-01-02"}]})


def test_demo_content_exports_a_valid_package(app, client, package_validator):
    seed_demo()
    response = client.get("/api/v1/360giving.json")
    assert response.status_code == 200 and response.was_streamed
    package = response.get_json()
    assert package["grants"], "the demo content has awarded bids"
    assert errors_of(package_validator, package) == []
    assert package["publisher"]["name"] and package["modified"].endswith("Z")
    for grant in package["grants"]:
        assert grant["id"].startswith("360G-")
        assert grant["openBids"]["permalink"].startswith("http")
        assert grant["openBids"]["licence"]


def test_all_bids_form_carries_open_bids_fields(app, client):
    seed_demo()
    awarded = client.get("/api/v1/360giving.json").get_json()["grants"]
    every = client.get("/api/v1/360giving.json?all=1").get_json()["grants"]
    assert len(every) > len(awarded)
    statuses = {g["openBids"]["status"] for g in every}
    assert "awarded" in statuses and len(statuses) > 1
    assert all("submittedOn" in g["openBids"] for g in every)
    assert client.get("/api/v1/360giving.json?all=yes").status_code == 400


def test_export_follows_the_search_query(app, client):
    seed_demo()
    everything = client.get("/api/v1/360giving.json").get_json()["grants"]
    first = everything[0]
    found = client.get(
        "/api/v1/360giving.json",
        query_string={
            "identifier": first["id"]
            if first["id"].startswith("360G-openbids-") is False
            else first["id"]
        },
    ).get_json()["grants"]
    assert len(found) <= 1
    funder = first["fundingOrganization"][0]["name"]
    by_funder = client.get("/api/v1/360giving.json", query_string={"funder": funder}).get_json()
    assert by_funder["grants"]
    assert all(g["fundingOrganization"][0]["name"] == funder for g in by_funder["grants"])
    assert (
        len(by_funder["grants"]) < len(everything)
        or len({g["fundingOrganization"][0]["name"] for g in everything}) == 1
    )


def test_csv_has_the_standards_titles_licence_and_permalink(app, client):
    seed_demo()
    response = client.get("/api/v1/360giving.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == list(CSV_TITLES)
    assert all(r["Open Bids:Licence"] and r["Open Bids:Permalink"].startswith("http") for r in rows)
    assert all(r["Identifier"].startswith("360G-") and r["Award Date"] for r in rows)


@pytest.fixture
def real_package(app, tmp_path):
    """The first 300 shared UK grants, imported (small enough to be indexed at once)."""
    with gzip.open(UK_GRANTS, "rt", encoding="utf-8") as handle:
        grants = [g for g in json.load(handle)["grants"] if g.get("recipientOrganization")][:300]
    path = tmp_path / "uk.json"
    path.write_text(json.dumps({"grants": grants}), encoding="utf-8")
    report = import_bids(path, licence="CC-BY-4.0")
    assert report.imported == 300, report.problems[:3]
    return {g["id"]: g for g in grants}


ROUND_TRIP_FIELDS = (
    "title",
    "description",
    "currency",
    "amountAwarded",
    "amountAppliedFor",
    "plannedDates",
    "beneficiaryLocation",
    "recipientOrganization",
    "fundingOrganization",
    "grantProgramme",
    "classifications",
    "fromOpenCall",
    "dataSource",
    "url",
)


def test_a_real_package_round_trips_and_stays_valid(real_package, client, package_validator):
    package = client.get("/api/v1/360giving.json").get_json()
    assert errors_of(package_validator, package) == []
    assert package["license"] == "https://creativecommons.org/licenses/by/4.0/"
    exported = {g["id"]: g for g in package["grants"]}
    assert set(exported) == set(real_package)
    for identifier, source in real_package.items():
        back = exported[identifier]
        for name in ROUND_TRIP_FIELDS:
            expected = source.get(name)
            if name in ("title", "description"):
                expected = expected.strip()  # texts are stored without surrounding spaces
            assert back.get(name) == expected, (identifier, name)
        assert back["awardDate"] == source["awardDate"][:10]


def test_the_flattened_csv_reads_back_with_the_importers_reader(real_package, client, tmp_path):
    path = tmp_path / "back.csv"
    path.write_bytes(client.get("/api/v1/360giving.csv").get_data())
    back = {g["id"]: g for _n, g in GrantReader(path).grants()}
    assert set(back) == set(real_package)
    for identifier, source in real_package.items():
        grant = back[identifier]
        assert grant["title"] == source["title"].strip()
        assert grant["amountAwarded"] == source["amountAwarded"]
        assert grant["recipientOrganization"][0]["id"] == source["recipientOrganization"][0]["id"]
        assert grant["fundingOrganization"][0]["name"] == source["fundingOrganization"][0]["name"]
