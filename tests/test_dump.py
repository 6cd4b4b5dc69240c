"""`export dump DIR`: files of every public bid and a datapackage.json that describes them."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re

from sqlalchemy import func, select

from bids.demo import seed_demo
from bids.models import Bid, Visibility


def test_dump_writes_the_public_corpus_with_its_datapackage(app, db, tmp_path):
    seed_demo()
    public = db.session.scalar(
        select(func.count(Bid.id)).where(
            Bid.visibility == Visibility.PUBLISHED, Bid.hidden_at.is_(None)
        )
    )
    result = app.test_cli_runner().invoke(
        args=["export", "dump", str(tmp_path / "dumps"), "--base-url", "https://bids.example.org"]
    )
    assert result.exit_code == 0, result.output
    [folder] = list((tmp_path / "dumps").iterdir())
    package = json.loads((folder / "datapackage.json").read_text())
    resources = {r["name"]: r for r in package["resources"]}
    assert set(resources) == {"bids-jsonl", "bids-csv", "grants-360giving", "grants-360giving-csv"}
    for resource in resources.values():
        data = (folder / resource["path"]).read_bytes()
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert resource["bytes"] == len(data) and resource["licenses"]
    lines = gzip.decompress((folder / "bids.jsonl.gz").read_bytes()).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == public == resources["bids-jsonl"]["rowCount"]
    assert all(
        r["licence"] and r["permalink"].startswith("https://bids.example.org/bids/") for r in rows
    )
    with gzip.open(folder / "bids.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == public
    assert [f["name"] for f in resources["bids-csv"]["schema"]["fields"]] == list(table[0])
    grants = json.loads(gzip.decompress((folder / "360giving.json.gz").read_bytes()))["grants"]
    assert len(grants) == resources["grants-360giving"]["rowCount"] > 0
    assert all(g["openBids"]["permalink"].startswith("https://bids.example.org/") for g in grants)


def test_data_page_lists_and_serves_the_latest_dump(app, db, client, tmp_path):
    assert "No dump has been written yet" in client.get("/data").get_data(as_text=True)
    seed_demo()
    result = app.test_cli_runner().invoke(args=["export", "dump"])
    assert result.exit_code == 0, result.output
    page = client.get("/data").get_data(as_text=True)
    links = re.findall(r'href="(/data/[^"]+)"', page)
    assert {link.rsplit("/", 1)[-1] for link in links} == {
        "bids.jsonl.gz",
        "bids.csv.gz",
        "360giving.json.gz",
        "360giving.csv.gz",
        "datapackage.json",
    }
    package = client.get(next(link for link in links if link.endswith("datapackage.json")))
    assert package.status_code == 200 and package.get_json()["resources"]
    package.close()  # a served file stays open until its response is closed
    assert client.get("/data/../etc/passwd").status_code == 404
    assert client.get("/data/2020-01-01/nothing.csv").status_code == 404
