"""`GET /api/v1/360giving.xlsx`: the flattened form as a workbook, the CSV's titles and cells,
every row with its licence and permalink; the importer reads it back."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from bids.demo import seed_demo
from bids.giving360.export import CSV_TITLES
from bids.giving360.reader import GrantReader

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet_rows(data: bytes) -> list[list]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    assert workbook.sheetnames == ["grants"]
    return [list(row) for row in workbook["grants"].iter_rows(values_only=True)]


def _same(cell, text: str) -> bool:
    """A workbook cell equals the CSV's text: numbers as numbers, empty cells as ""."""
    if cell is None:
        return text == ""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(text) == float(cell)
    return str(cell) == text


def test_the_workbook_has_the_csvs_titles_and_values(app, client):
    seed_demo()
    response = client.get("/api/v1/360giving.xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert "open-bids-360giving.xlsx" in response.headers["Content-Disposition"]
    rows = _sheet_rows(response.get_data())
    csv_rows = list(csv.reader(io.StringIO(client.get("/api/v1/360giving.csv").get_data(True))))
    assert rows[0] == list(CSV_TITLES) == csv_rows[0]
    assert len(rows) == len(csv_rows) > 2
    for row, csv_row in zip(rows[1:], csv_rows[1:], strict=True):
        assert len(row) == len(csv_row)
        assert all(_same(c, t) for c, t in zip(row, csv_row, strict=True)), (row, csv_row)
    titles = list(CSV_TITLES)
    licence, permalink = titles.index("Open Bids:Licence"), titles.index("Open Bids:Permalink")
    amount = titles.index("Amount Awarded")
    for row in rows[1:]:
        assert row[licence] and str(row[permalink]).startswith("http://localhost/bids/")
        assert isinstance(row[amount], (int, float))


def test_the_workbook_follows_the_search_and_all_bids(app, client):
    seed_demo()
    awarded = _sheet_rows(client.get("/api/v1/360giving.xlsx").get_data())
    every = _sheet_rows(client.get("/api/v1/360giving.xlsx?all=1").get_data())
    assert len(every) > len(awarded)
    none = _sheet_rows(client.get("/api/v1/360giving.xlsx?q=zzzznothingmatches").get_data())
    assert none == [list(CSV_TITLES)]
    assert client.get("/api/v1/360giving.xlsx?all=2").status_code == 400


def test_cells_a_workbook_cannot_hold_or_would_run_are_made_safe(app, client, factory):
    """A control character in a text made openpyxl raise (a 500); `=` would be a formula."""
    org = factory.org("Bell Ringers")
    bid = factory.bid(
        org,
        title="=SUM(1) bells",
        body="Bells\x0b for the tower",
        status="awarded",
        amount_awarded="5000",
        decided_on="2024-02-01",
    )
    assert "\x0b" in bid.body
    response = client.get("/api/v1/360giving.xlsx")
    assert response.status_code == 200
    row = _sheet_rows(response.get_data())[1]
    assert row[list(CSV_TITLES).index("Title")] == "'=SUM(1) bells"
    assert row[list(CSV_TITLES).index("Description")] == "Bells for the tower"


def test_the_importer_reads_the_workbook_back(app, client, tmp_path):
    seed_demo()
    path = tmp_path / "back.xlsx"
    path.write_bytes(client.get("/api/v1/360giving.xlsx").get_data())
    csv_path = tmp_path / "back.csv"
    csv_path.write_bytes(client.get("/api/v1/360giving.csv").get_data())
    from_xlsx = {g["id"]: g for _n, g in GrantReader(path).grants()}
    from_csv = {g["id"]: g for _n, g in GrantReader(csv_path).grants()}
    assert from_xlsx and set(from_xlsx) == set(from_csv)
    for identifier, grant in from_csv.items():
        back = from_xlsx[identifier]
        assert back["title"] == grant["title"] and back["amountAwarded"] == grant["amountAwarded"]
        assert back["recipientOrganization"] == grant["recipientOrganization"]
