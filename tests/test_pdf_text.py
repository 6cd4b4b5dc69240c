"""Text extraction in a limited child process, on real and hostile PDFs."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from pdf_builders import (
    HELLO,
    damaged_pdf,
    decompression_bomb_pdf,
    encrypted_pdf,
    operator_flood_pdf,
    text_pdf,
)

from bids.models import ExtractionStatus
from bids.pdf_text import MAX_TEXT_CHARS, _clean_text, extract_pdf_text
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

LIMITS = {"timeout_s": 60, "memory_mb": 512}  # generous: these tests are not about limits


def metadata(shared_data: Path) -> dict[str, dict]:
    lines = (shared_data / "pdfs" / "metadata.jsonl").read_text().splitlines()
    return {row["file"]: row for row in map(json.loads, lines)}


def record_timeouts(monkeypatch) -> list[float]:
    """The timeouts after which the child was given up on (`subprocess.TimeoutExpired`)."""
    expired: list[float] = []
    run = subprocess.run

    def recording_run(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except subprocess.TimeoutExpired as error:
            expired.append(error.timeout)
            raise

    monkeypatch.setattr(subprocess, "run", recording_run)
    return expired


def extraction_children() -> list[int]:
    """Our own child processes still running `bids.pdf_text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"bids.pdf_text" in cmdline:
            found.append(int(entry.name))
    return found


def test_real_proposal_is_read_with_its_page_count(shared_data):
    pdf = shared_data / "pdfs" / "barker_michelle_2020.pdf"
    result = extract_pdf_text(pdf.read_bytes(), **LIMITS)
    assert result.status == ExtractionStatus.OK
    assert result.pages == metadata(shared_data)[pdf.name]["pages"] == 11
    assert "Research Software" in result.text
    assert len(result.text) > 10_000
    assert "\x00" not in result.text and "   " not in result.text
    assert result.message == "Text read from 11 pages."


def test_scan_without_text_layer(shared_data):
    pdf = shared_data / "pdfs" / "tollerud_erik_2020.pdf"
    assert metadata(shared_data)[pdf.name]["no_text_layer"] is True
    result = extract_pdf_text(pdf.read_bytes(), **LIMITS)
    assert result.status == ExtractionStatus.NO_TEXT_LAYER
    assert result.pages == 55
    assert result.text == ""
    assert result.message == (
        "This PDF is a scan with no text layer: it is kept, but its words cannot be searched."
    )


def test_twenty_page_pdf_is_read_in_full(shared_data):
    """Every page of a 19-page proposal; how fast is `make bench`'s draft-check figure."""
    pdf = shared_data / "pdfs" / "team_metadocencia_2023.pdf"  # 19 pages of text
    result = extract_pdf_text(pdf.read_bytes(), **LIMITS)
    assert result.status == ExtractionStatus.OK and result.pages == 19
    assert result.message == "Text read from 19 pages."
    assert len(result.text) > 19 * 500
    assert extraction_children() == []


def test_child_starts_without_the_web_stack():
    """The child imports this module: it must not pull in Flask or SQLAlchemy."""
    probe = "import sys, bids.pdf_text; print(sorted({'flask', 'sqlalchemy'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.strip() == "[]"


def shared_pdf_names() -> list[str]:
    """The shared PDFs, one test each (so test workers share them out)."""
    listing = SHARED_DATA / "pdfs" / "metadata.jsonl"
    return sorted(metadata(SHARED_DATA)) if listing.exists() else ["(no shared PDFs)"]


@pytest.mark.slow
@pytest.mark.parametrize("name", shared_pdf_names())
def test_every_shared_pdf_matches_its_metadata(shared_data, name):
    row = metadata(shared_data)[name]
    result = extract_pdf_text((shared_data / "pdfs" / name).read_bytes(), **LIMITS)
    expected = ExtractionStatus.NO_TEXT_LAYER if row["no_text_layer"] else ExtractionStatus.OK
    assert (result.status, result.pages) == (expected, row["pages"])


def test_password_protected_pdf_is_encrypted():
    result = extract_pdf_text(encrypted_pdf(user_password="secret"), **LIMITS)
    assert result.status == ExtractionStatus.ENCRYPTED
    assert result.text == "" and result.pages is None
    assert result.message.startswith("This PDF is encrypted")


def test_pdf_encrypted_with_an_empty_user_password_is_read():
    data = encrypted_pdf(user_password="", owner_password="owner-only")
    assert b"/Encrypt" in data and HELLO.encode() not in data
    result = extract_pdf_text(data, **LIMITS)
    assert result.status == ExtractionStatus.OK
    assert result.text == HELLO and result.pages == 1


def test_decompression_bomb_is_stopped_by_a_limit_and_the_caller_stays_healthy(monkeypatch):
    bomb = decompression_bomb_pdf(gigabytes=4)
    assert len(bomb) < 20_000
    timed_out = record_timeouts(monkeypatch)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = extract_pdf_text(bomb, timeout_s=60, memory_mb=256)
    assert result.status == ExtractionStatus.FAILED
    assert result.message.startswith("We could not read text from this PDF")
    assert "took too long" not in result.message and timed_out == []  # not the clock: a limit
    assert result.text == ""
    # The caller's peak memory did not grow by the bomb (KiB on Linux).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50_000
    assert extract_pdf_text(text_pdf(), **LIMITS).text == HELLO
    assert extraction_children() == []


def test_memory_limit_stops_a_content_flood(monkeypatch):
    timed_out = record_timeouts(monkeypatch)
    result = extract_pdf_text(operator_flood_pdf(), timeout_s=60, memory_mb=128)
    assert result.status == ExtractionStatus.FAILED
    assert "it used too much memory" in result.message
    assert timed_out == []


def test_wall_clock_timeout_kills_the_child(shared_data, monkeypatch):
    """A tiny timeout: the clock, not the CPU limit, ends the child, which is killed and reaped."""
    data = (shared_data / "pdfs" / "miller_henrye_2020.pdf").read_bytes()  # 65 pages
    timed_out = record_timeouts(monkeypatch)
    killed = []
    kill = subprocess.Popen.kill

    def recording_kill(process):
        killed.append(process.pid)
        kill(process)

    monkeypatch.setattr(subprocess.Popen, "kill", recording_kill)
    result = extract_pdf_text(data, timeout_s=0.05, memory_mb=512)
    assert result.status == ExtractionStatus.FAILED
    assert result.message == (
        "We could not read text from this PDF (it took too long): "
        "it is kept, but its words cannot be searched."
    )
    assert timed_out == [0.05] and len(killed) == 1
    assert extraction_children() == []


def test_damaged_pdf_fails_with_a_message():
    result = extract_pdf_text(damaged_pdf(), **LIMITS)
    assert result.status == ExtractionStatus.FAILED
    assert "(it is damaged)" in result.message


def test_messages_for_a_pdf_that_is_only_read():
    result = extract_pdf_text(encrypted_pdf(user_password="secret"), **LIMITS, stored=False)
    assert result.status == ExtractionStatus.ENCRYPTED
    assert "kept" not in result.message and "cannot be searched" in result.message


def test_text_is_cleaned_and_capped():
    assert _clean_text("a\x00b \t\u00a0 c\r\n\n\n\n d  \x07e") == "a b c\n\nd e"
    assert len(_clean_text("word " * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS
    assert _clean_text("lone \ud800 surrogate") == "lone ? surrogate"
