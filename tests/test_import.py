"""Bulk import: every format, the SBIR aliases, bad rows, idempotence, outbox rows."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bids.imports import ImportFileError, guess_format
from bids.models import Bid, IndexOutbox, Organisation, Revision
from portal.commands.imports import import_bids
from search_index.outbox import pending_count
from tests.conftest import ON_POSTGRES, vacuum_count


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def good(n: int, **fields) -> dict:
    record = {
        "identifier": f"TEST-{n}",
        "title": f"Community garden {n}",
        "summary": "Growing food together.",
        "body": "We will **grow** vegetables with neighbours.",
        "organisation": {"name": "Green Streets", "identifier": "GB-CHC-1000001"},
        "funder": {"name": "Garden Fund"},
        "programme": "Small Grants",
        "amount_requested": "12500.50",
        "currency": "GBP",
        "status": "submitted",
        "submitted_on": "2024-03-01",
        "themes": ["food", "community"],
        "locations": ["Wales"],
        "licence": "CC0-1.0",
        "url": "https://example.org/bids/1",
    }
    record.update(fields)
    return record


def count(db, model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def bid(db, identifier) -> Bid:
    return db.session.scalar(select(Bid).where(Bid.identifier == identifier))


def test_jsonl_import_publishes_bids_with_every_field(db, tmp_path):
    path = write_jsonl(tmp_path / "bids.jsonl", [good(1), good(2, title="Orchard")])
    report = import_bids(path)
    assert (report.imported, report.updated, report.skipped) == (2, 0, 0)
    first = bid(db, "TEST-1")
    assert first.title == "Community garden 1"
    assert first.body.startswith("We will **grow**")
    assert first.organisation.name == "Green Streets"
    assert first.organisation.org_identifier == "GB-CHC-1000001"
    assert first.funder.name == "Garden Fund" and first.funder.kind == "funder"
    assert first.organisation.kind == "applicant"
    assert first.amount_requested == Decimal("12500.50")
    assert first.submitted_on == date(2024, 3, 1)
    assert first.themes == ["food", "community"] and first.locations == ["Wales"]
    assert first.licence == "CC0-1.0" and first.source_url == "https://example.org/bids/1"
    assert first.is_public and first.published_at is not None
    assert [(r.number, r.note) for r in first.revisions] == [(1, "Imported")]
    assert first.revisions[0].snapshot["organisation"] == "Green Streets"
    assert first.revisions[0].snapshot["amount_requested"] == "12500.50"
    # One organisation for both rows, one funder: the cache and lookups reuse them.
    assert count(db, Organisation) == 2


def test_existing_organisations_are_found_by_identifier_then_name(db, tmp_path, factory):
    by_id = factory.org("Old Name Ltd", org_identifier="GB-COH-12345678")
    by_name = factory.org("Garden Fund", kind="funder")
    path = write_jsonl(
        tmp_path / "b.jsonl",
        [
            good(
                1,
                organisation={"name": "New Name", "identifier": "GB-COH-12345678"},
                funder={"name": "garden fund", "identifier": "GB-CHC-999"},
            )
        ],
    )
    assert import_bids(path).imported == 1
    row = bid(db, "TEST-1")
    assert row.organisation_id == by_id.id
    assert row.funder_id == by_name.id
    db.session.refresh(by_name)
    assert by_name.org_identifier == "GB-CHC-999"  # learnt from the import


def test_new_organisations_in_one_batch_are_created_once(db, tmp_path):
    rows = [
        good(1, organisation={"name": "Hill Trust"}),
        good(2, organisation={"name": "hill trust", "identifier": "GB-CHC-42"}),
        good(3, organisation={"name": "Hill Trust (trading name)", "identifier": "GB-CHC-42"}),
        good(4, organisation={"name": "Hill Trust"}, funder={"name": "Hill Trust"}),
    ]
    assert import_bids(write_jsonl(tmp_path / "b.jsonl", rows)).imported == 4
    orgs = {o.name: o for o in db.session.scalars(select(Organisation))}
    assert sorted(orgs) == ["Garden Fund", "Hill Trust"]
    assert orgs["Hill Trust"].org_identifier == "GB-CHC-42"
    assert {b.organisation_id for b in db.session.scalars(select(Bid))} == {orgs["Hill Trust"].id}
    assert bid(db, "TEST-4").funder_id == orgs["Hill Trust"].id
    assert len({o.slug for o in orgs.values()}) == 2


def test_organisation_kind_option(db, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [good(1)])
    import_bids(path, organisation_kind="collective")
    assert bid(db, "TEST-1").organisation.kind == "collective"


def test_csv_import_with_lists_and_party_columns(db, tmp_path):
    path = tmp_path / "bids.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "identifier",
                "title",
                "body",
                "organisation_name",
                "organisation_identifier",
                "funder_name",
                "funder_identifier",
                "amount_awarded",
                "currency",
                "status",
                "themes",
                "locations",
                "decided_on",
                "submitted_on",
            ]
        )
        writer.writerow(
            [
                "CSV-1",
                "Youth club",
                "A club,\nwith two lines.",
                "Club Org",
                "",
                "Youth Fund",
                "GB-CHC-222",
                "1,000",
                "eur",
                "awarded",
                "youth; sport",
                "Bristol, City of;Wales",
                "2023-06-01",
                "2023-01-01",
            ]
        )
    report = import_bids(path)
    assert report.imported == 1, report.problems
    row = bid(db, "CSV-1")
    assert row.body == "A club,\nwith two lines."
    assert row.funder.org_identifier == "GB-CHC-222"
    assert row.amount_awarded == Decimal("1000.00") and row.currency == "EUR"
    assert row.themes == ["youth", "sport"]
    assert row.locations == ["Bristol, City of", "Wales"]  # `;` separates, commas stay
    assert row.status == "awarded" and row.decided_on == date(2023, 6, 1)


def test_csv_blank_cells_take_defaults_and_do_not_clear_on_update(db, tmp_path):
    header = "identifier,title,summary,organisation_name,funder_name,status,currency,themes\n"
    path = tmp_path / "a.csv"
    path.write_text(header + "C-1,T,S,Org,Fund,,,\n")
    assert import_bids(path).imported == 1
    row = bid(db, "C-1")
    assert (row.status, row.currency, row.themes) == ("submitted", "GBP", [])
    path.write_text(header + "C-1,T,S,Org,Fund,awarded,USD,health\n")
    assert import_bids(path).updated == 1
    path.write_text(header + "C-1,New title,S,Org,Fund,,,\n")
    assert import_bids(path).updated == 1
    db.session.expire_all()
    row = bid(db, "C-1")
    assert (row.title, row.status, row.currency, row.themes) == (
        "New title",
        "awarded",
        "USD",
        ["health"],
    )


def test_csv_bad_row_reports_its_line_number(db, tmp_path):
    path = tmp_path / "bids.csv"
    path.write_text(
        "identifier,title,summary,organisation_name,funder_name\n"
        'C-1,"Multi\nline title fix",ok,Org,Fund\n'
        "C-2,,summary,Org,Fund\n"
        "C-3,Fine,summary,Org,Fund\n"
    )
    report = import_bids(path)
    assert report.imported == 2
    assert [p.line for p in report.problems] == [4]
    assert "Title is required" in report.problems[0].reason


def test_360giving_package(db, tmp_path):
    package = {
        "grants": [
            {
                "id": "360G-example-001",
                "title": "Warm spaces",
                "description": "Keeping people warm in winter.",
                "amountAppliedFor": 5000,
                "amountAwarded": 4500.5,
                "currency": "GBP",
                "awardDate": "2022-11-15T00:00:00+00:00",
                "recipientOrganization": [{"id": "GB-CHC-1164883", "name": "Warm Hearts"}],
                "fundingOrganization": [{"id": "360G-localfunder", "name": "Local Funder"}],
                "grantProgramme": [{"title": "Winter Fund"}],
                "beneficiaryLocation": [{"name": "Scotland"}, {"name": "Glasgow"}],
            },
            {
                "id": "360G-example-002",
                "title": "",
                "description": "No title here",
                "recipientOrganization": [{"name": "X"}],
                "fundingOrganization": [{"name": "Y"}],
            },
        ]
    }
    path = tmp_path / "grants.json"
    path.write_text(json.dumps(package))
    with pytest.raises(ImportFileError, match="licence"):
        import_bids(path)  # the package states no licence, and none is ever assumed
    report = import_bids(path, licence="CC-BY-4.0")
    assert report.imported == 1 and report.skipped == 1
    assert "title" in str(report.problems[0])
    row = bid(db, "360G-example-001")
    assert row.status == "awarded" and row.licence == "CC-BY-4.0"
    # The award date is the decision; a submission date is never made up.
    assert row.decided_on == date(2022, 11, 15) and row.submitted_on is None
    assert row.amount_requested == Decimal("5000.00") and row.amount_awarded == Decimal("4500.50")
    assert row.organisation.org_identifier == "GB-CHC-1164883"
    assert row.funder.name == "Local Funder" and row.funder.org_identifier is None
    assert row.programme == "Winter Fund" and row.locations == ["Scotland", "Glasgow"]
    assert row.body == "Keeping people warm in winter."


def test_not_a_360giving_package_is_refused(db, tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"nothing": []}')
    with pytest.raises(ImportFileError, match="360Giving"):
        import_bids(path)


def test_a_csv_that_is_not_utf8_is_refused_with_a_reason(db, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"identifier,title,summary,organisation_name,funder_name\nA,Caf\xe9,s,O,F\n")
    with pytest.raises(ImportFileError, match="UTF-8"):
        import_bids(path)


def test_format_guessed_from_extension_and_gzip_read_directly(db, tmp_path):
    assert guess_format("a.jsonl.gz") == "jsonl"
    assert guess_format("a.CSV") == "csv"
    assert guess_format("grants.json") == "360giving"
    with pytest.raises(ImportFileError, match="--format"):
        guess_format("bids.txt")
    path = tmp_path / "bids.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(good(1)) + "\n")
    assert import_bids(path).imported == 1
    # An explicit format overrides the name.
    other = write_jsonl(tmp_path / "bids.txt", [good(2)])
    assert import_bids(other, fmt="jsonl").imported == 1


def test_sbir_aliases(db, tmp_path):
    record = {
        "identifier": "sbir.gov:1",
        "title": "Better sensors",
        "abstract": "We build sensors.",
        "funder": "Department of Energy",
        "funder_path": ["Department of Energy"],
        "amount": 149999.99,
        "currency": "USD",
        "year": 2011,
        "org": "ACME, INC.",
        "phase": "Phase II",
        "program": "SBIR",
        "url": "https://www.sbir.gov/x/1",
        "abstract_digits_stripped": False,
    }
    report = import_bids(write_jsonl(tmp_path / "sbir.jsonl", [record]))
    assert report.imported == 1, report.problems
    row = bid(db, "sbir.gov:1")
    assert row.body == "We build sensors."
    assert row.organisation.name == "ACME, INC." and row.funder.name == "Department of Energy"
    assert row.amount_awarded == Decimal("149999.99") and row.currency == "USD"
    assert row.submitted_on == date(2011, 1, 1)
    assert row.programme == "SBIR Phase II"
    assert row.status == "awarded"
    assert row.source_url == "https://www.sbir.gov/x/1"


def test_bad_rows_are_reported_with_line_numbers_and_skipped(db, tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps(good(1)),
        json.dumps(good(2, title="")),  # 2 missing title
        json.dumps(good(3, amount_requested="lots")),  # 3 bad amount
        "",  # 4 blank: ignored
        json.dumps(good(5, currency="XYZ")),  # 5 bad currency
        json.dumps(good(6, submitted_on="01/02/2020")),  # 6 bad date
        '{"title": "broken',  # 7 invalid JSON
        json.dumps(good(8, funder=None)),  # 8 missing funder
        json.dumps(good(9, organisation={"identifier": "GB-CHC-1"})),  # 9 organisation unnamed
        json.dumps(good(10, summary="", body="")),  # 10 no text
        json.dumps(["a", "list"]),  # 11 not an object
        json.dumps(good(12)),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"title": "caf\xe9"}\n')  # 13 Latin-1
    report = import_bids(path)
    assert (report.imported, report.skipped) == (2, 10)
    problems = {p.line: p.reason for p in report.problems}
    assert sorted(problems) == [2, 3, 5, 6, 7, 8, 9, 10, 11, 13]
    assert problems[13] == "not UTF-8 text"
    assert "Title is required" in problems[2]
    assert problems[3].startswith("amount_requested: Must be a number")
    assert "XYZ is not an ISO 4217" in problems[5]
    assert "ISO date" in problems[6]
    assert "not valid JSON" in problems[7]
    assert problems[8] == "funder: Funder name is required."
    assert "Organisation needs a name" in problems[9]
    assert "summary or a body" in problems[10]
    assert "JSON object" in problems[11]
    assert {b.identifier for b in db.session.scalars(select(Bid))} == {"TEST-1", "TEST-12"}


def test_reimport_is_idempotent_and_updates_changed_fields(db, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [good(1), good(2)])
    import_bids(path)
    again = import_bids(path)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert count(db, Bid) == 2 and count(db, Revision) == 2

    changed = write_jsonl(
        tmp_path / "c.jsonl",
        [good(1, title="Community garden, renamed", amount_requested="99"), good(2)],
    )
    report = import_bids(changed)
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 1)
    assert count(db, Bid) == 2
    db.session.expire_all()
    first = bid(db, "TEST-1")
    assert first.title == "Community garden, renamed"
    assert first.amount_requested == Decimal("99.00")
    assert [(r.number, r.note) for r in first.revisions] == [
        (1, "Imported"),
        (2, "Imported (updated)"),
    ]
    assert first.revisions[1].snapshot["title"] == "Community garden, renamed"
    assert len(bid(db, "TEST-2").revisions) == 1


def test_reimport_keeps_fields_the_row_does_not_give(db, tmp_path, factory):
    import_bids(write_jsonl(tmp_path / "a.jsonl", [good(1)]))
    slim = {
        "identifier": "TEST-1",
        "title": "Short",
        "summary": "s",
        "organisation": "Green Streets",
        "funder": "Garden Fund",
    }
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", [slim]))
    assert report.updated == 1
    db.session.expire_all()
    row = bid(db, "TEST-1")
    assert row.title == "Short" and row.themes == ["food", "community"]
    assert row.licence == "CC0-1.0" and row.amount_requested == Decimal("12500.50")


def test_reimport_publishes_a_draft_and_keeps_a_hidden_bid_hidden(db, tmp_path, factory):
    from bids.publishing import hide_bid

    org = factory.org("Green Streets")
    draft = factory.bid(org, published=False, identifier="TEST-1")
    hidden = factory.bid(org, identifier="TEST-2")
    hide_bid(factory.user(admin=True), hidden, "Spam")
    db.session.commit()
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", [good(1), good(2)]))
    assert (report.imported, report.updated) == (0, 2)
    db.session.expire_all()
    assert draft.is_published and draft.published_at is not None and draft.is_public
    assert hidden.is_hidden and hidden.hidden_reason == "Spam"
    assert hidden.title == "Community garden 2"


def test_same_identifier_twice_in_one_file_updates(db, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [good(1), good(1, title="Second version")])
    report = import_bids(path)
    assert (report.imported, report.updated) == (1, 1)
    assert count(db, Bid) == 1
    assert bid(db, "TEST-1").title == "Second version"


def test_rows_without_identifier_get_generated_ones(db, tmp_path):
    record = good(1)
    del record["identifier"]
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", [record, record]))
    assert report.imported == 2
    ids = {b.id: b.identifier for b in db.session.scalars(select(Bid))}
    assert sorted(ids.values()) == sorted(f"360G-openbids-{i}" for i in ids)
    # A generated identifier is never created by an import, only updated.
    report = import_bids(
        write_jsonl(tmp_path / "c.jsonl", [good(1, identifier="360G-openbids-999")])
    )
    assert report.skipped == 1 and "assigned by Open Bids" in report.problems[0].reason


def test_outbox_rows_written_for_new_and_changed_bids_only(app, db, tmp_path, monkeypatch):
    # Nothing applied after the import (no wait), so every row it wrote is still there to see.
    path = write_jsonl(tmp_path / "b.jsonl", [good(1), good(2)])
    report = import_bids(path, wait=False)
    rows = db.session.execute(select(IndexOutbox.target, IndexOutbox.bid_id, IndexOutbox.action))
    got = sorted(rows.all())
    ids = sorted(report.bid_ids)
    assert got == sorted((t, i, "upsert") for t in ("search", "similar") for i in ids)
    db.session.execute(IndexOutbox.__table__.delete())
    db.session.commit()
    import_bids(path, wait=False)  # unchanged: nothing for the indexers to do
    assert count(db, IndexOutbox) == 0
    import_bids(write_jsonl(tmp_path / "c.jsonl", [good(2, title="Changed")]), wait=False)
    changed = bid(db, "TEST-2").id
    assert sorted(db.session.execute(select(IndexOutbox.target, IndexOutbox.bid_id)).all()) == [
        ("search", changed),
        ("similar", changed),
    ]


def test_imported_organisations_named_like_fixed_org_paths_get_their_own_pages(
    client, db, tmp_path
):
    # "claims", "new" and "join" are paths under /orgs/: an organisation's slug must not be one.
    names = ["Claims", "New", "Join"]
    rows = [
        good(n, organisation={"name": name}, funder={"name": f"{name} Fund"})
        for n, name in enumerate(names, start=1)
    ]
    assert import_bids(write_jsonl(tmp_path / "b.jsonl", rows)).imported == 3
    for name in names:
        org = db.session.scalar(select(Organisation).where(Organisation.name == name))
        assert org.slug not in {"claims", "new", "join"}
        response = client.get(f"/orgs/{org.slug}")
        assert response.status_code == 200, (name, org.slug, response.status_code)
        assert f"<h1>{name}</h1>" in response.get_data(as_text=True)


def test_an_imported_revision_keeps_the_snapshot_publishing_would_take(db, tmp_path):
    from bids.revisions import bid_snapshot

    import_bids(write_jsonl(tmp_path / "b.jsonl", [good(1, amount_awarded="9000")]))
    assert bid(db, "TEST-1").revisions[0].snapshot == bid_snapshot(bid(db, "TEST-1"))
    import_bids(
        write_jsonl(
            tmp_path / "c.jsonl",
            [good(1, title="Renamed", status="awarded", decided_on="2024-06-30")],
        )
    )
    imported = bid(db, "TEST-1")
    assert [r.number for r in imported.revisions] == [1, 2]
    assert imported.revisions[-1].snapshot == bid_snapshot(imported)
    assert imported.revisions[-1].snapshot["decided_on"] == "2024-06-30"


def test_batches_commit_and_span_batch_boundaries(db, tmp_path, monkeypatch):
    from bids.imports import writer

    monkeypatch.setattr(writer, "BATCH_SIZE", 3)
    records = [good(n) for n in range(1, 9)] + [good(2, title="Late update")]
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", records))
    assert (report.imported, report.updated) == (8, 1)
    assert count(db, Bid) == 8
    assert bid(db, "TEST-2").title == "Late update"


# When an import's search work is applied is the outbox's business, seen in the Whoosh index
# (PostgreSQL's own engine is current at each batch commit): these use Whoosh on either database.
@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
def test_index_work_waits_for_the_end_of_a_small_import(app_config, app, db, tmp_path, monkeypatch):
    from bids.imports import writer
    from search_index import get_index

    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    indexed_after_each_batch = []
    real_flush = writer.BatchWriter.flush

    def spy(self):
        real_flush(self)
        indexed_after_each_batch.append(get_index().doc_count() if get_index().exists() else 0)

    monkeypatch.setattr(writer.BatchWriter, "flush", spy)
    before = dict(app.config)
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", [good(n) for n in range(1, 7)]))
    assert report.imported == 6
    # Batch commits index nothing; the finished import is indexed at once.
    assert set(indexed_after_each_batch) == {0}
    assert get_index().doc_count() == 6
    assert pending_count() == 0
    assert dict(app.config) == before


def matchable_ids() -> set[int]:
    from search_index.similarity import get_store

    rows, alive = get_store().snapshot().all_rows()
    return {int(row["bid_id"]) for row, live in zip(rows, alive, strict=True) if live}


@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
def test_a_large_import_into_an_empty_site_is_rebuilt_and_finished_before_it_returns(
    app_config, app, db, tmp_path, monkeypatch
):
    from bids.imports import writer
    from search_index import catchup, get_index

    monkeypatch.setattr(writer, "BATCH_SIZE", 2)
    app.config["IMPORT_REBUILD_MIN"] = 3  # "large" means at least this many bids
    paths: list[str] = []
    monkeypatch.setattr(
        catchup,
        "choose_path",
        lambda n, real=catchup.choose_path: paths.append(real(n)) or paths[-1],
    )
    report = import_bids(write_jsonl(tmp_path / "b.jsonl", [good(n) for n in range(1, 6)]))
    assert report.imported == 5
    assert paths == ["rebuild"]
    ids = set(db.session.scalars(select(Bid.id)))
    assert set(get_index().stored()) == ids  # searchable ...
    assert matchable_ids() == ids  # ... and matchable, with no further command
    assert pending_count() == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="vectors kept by PostgreSQL (TEST_DATABASE_URL)")
def test_a_large_import_on_postgres_leaves_the_bid_table_vacuumed(app, db, tmp_path):
    from search_index import get_index

    app.config["IMPORT_REBUILD_MIN"] = 3
    vacuums = vacuum_count("bid")
    finished: list = []
    import_bids(
        write_jsonl(tmp_path / "b.jsonl", [good(n) for n in range(1, 6)]), finished=finished
    )
    assert finished[0].path == "rebuild"
    assert vacuum_count("bid") == vacuums + 1  # statistics and visibility map fresh at once
    assert set(get_index().stored()) == set(db.session.scalars(select(Bid.id)))


@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
@pytest.mark.parametrize(("child_fails", "index_processes"), [(False, 1), (True, 1), (False, 2)])
def test_a_rebuild_builds_the_search_index_in_a_child_beside_the_similarity_store(
    app_config, app, db, tmp_path, monkeypatch, child_fails, index_processes
):
    """The two rebuilds run side by side (the index in a forked child, itself indexing in
    processes of its own for a large corpus); a child that fails leaves the rebuild to this
    process, so the import still finishes searchable."""
    import os

    from search_index import catchup, get_index
    from search_index import index as index_module

    app.config["IMPORT_REBUILD_MIN"] = 3
    if index_processes > 1:  # before: "daemonic processes are not allowed to have children"
        monkeypatch.setattr(index_module, "PARALLEL_REBUILD_MIN", 1)
        monkeypatch.setattr(index_module.os, "cpu_count", lambda: index_processes)
    builders = tmp_path / "builders.txt"

    def rebuild(session, progress=None, real=catchup.rebuild_search_index):
        with builders.open("a") as out:
            out.write(f"{os.getpid()}\n")
        if child_fails and os.getpid() != parent:
            raise OSError("the disk is full")
        return real(session, progress=progress)

    parent = os.getpid()
    monkeypatch.setattr(catchup, "rebuild_search_index", rebuild)
    finished: list = []
    import_bids(
        write_jsonl(tmp_path / "b.jsonl", [good(n) for n in range(1, 6)]), finished=finished
    )
    pids = [int(line) for line in builders.read_text().split()]
    assert pids[0] != parent  # first in the child ...
    assert pids[1:] == ([parent] if child_fails else [])  # ... and here only when it failed
    assert finished[0].path == "rebuild" and {"search", "similarity"} <= set(finished[0].seconds)
    ids = set(db.session.scalars(select(Bid.id)))
    assert set(get_index().stored()) == ids and matchable_ids() == ids
    assert pending_count() == 0


@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
def test_a_small_import_into_a_large_site_is_applied_row_by_row(
    app_config, app, db, tmp_path, monkeypatch
):
    from search_index import catchup, get_index

    app.config["IMPORT_REBUILD_MIN"] = 3
    import_bids(write_jsonl(tmp_path / "big.jsonl", [good(n) for n in range(1, 9)]))
    paths: list[str] = []
    monkeypatch.setattr(
        catchup,
        "choose_path",
        lambda n, real=catchup.choose_path: paths.append(real(n)) or paths[-1],
    )
    import_bids(write_jsonl(tmp_path / "small.jsonl", [good(20), good(21), good(22)]))
    assert paths == ["rows"]  # 3 of 11 bids: cheaper to apply than to rebuild
    assert get_index().doc_count() == 11 and len(matchable_ids()) == 11
    assert pending_count() == 0
    again = import_bids(write_jsonl(tmp_path / "small.jsonl", [good(20), good(21), good(22)]))
    assert again.unchanged == 3 and paths == ["rows", "nothing"]


@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
def test_an_import_with_no_wait_leaves_its_work_to_the_worker(app_config, app, db, tmp_path):
    from search_index import get_index
    from search_index.worker import run_worker

    import_bids(write_jsonl(tmp_path / "b.jsonl", [good(n) for n in range(1, 6)]), wait=False)
    assert pending_count("search") == 5 and pending_count("similar") == 5
    assert not get_index().exists() or get_index().doc_count() == 0
    run_worker(once=True, jobs=False)
    assert get_index().doc_count() == 5 and pending_count() == 0


@pytest.mark.parametrize("app_config", [{"SEARCH_BACKEND": "whoosh"}])
def test_ten_thousand_bids_in_one_jsonl_file_import_and_finish(app_config, app, db, tmp_path):
    from search_index import get_index

    path = write_jsonl(tmp_path / "many.jsonl", [good(n) for n in range(1, 10_001)])
    report = import_bids(path)
    assert report.imported == 10_000 and report.skipped == 0
    assert get_index().doc_count() == 10_000
    assert pending_count() == 0


def test_cli_import_bids(runner, db, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [good(1), good(2, title="")])
    result = runner.invoke(args=["import-bids", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 1, updated 0, unchanged 0, skipped 1" in result.output
    assert "Search, similarity and clusters applied from the outbox" in result.output
    assert "index sync" not in result.output  # never "run this command next"
    assert "skipped line 2: title: Title is required." in result.output
    bad = tmp_path / "b.txt"
    bad.write_text("x")
    result = runner.invoke(args=["import-bids", str(bad)])
    assert result.exit_code != 0 and "--format" in result.output
    result = runner.invoke(
        args=[
            "import-bids",
            "--format",
            "csv",
            "--organisation-kind",
            "other",
            str(write_csv_one(tmp_path)),
        ]
    )
    assert result.exit_code == 0, result.output
    assert bid(db, "CSV-9").organisation.kind == "other"


def write_csv_one(tmp_path):
    path = tmp_path / "one.data"
    path.write_text("identifier,title,summary,organisation_name,funder_name\nCSV-9,T,S,New Org,F\n")
    return path


@pytest.mark.slow
def test_real_sbir_slice_imports_cleanly(db, tmp_path, shared_data):
    source = shared_data / "sbir-awards.jsonl.gz"
    path = tmp_path / "slice.jsonl.gz"
    with gzip.open(source, "rt") as src, gzip.open(path, "wt") as out:
        out.writelines(itertools.islice(src, 300))
    report = import_bids(path)
    assert report.problems == []
    assert report.imported == 300
    assert count(db, Bid) == 300
    assert db.session.scalar(select(func.count(Bid.id)).where(Bid.programme == "")) == 0
    assert import_bids(path).unchanged == 300
