"""Attaching PDFs to bids: checks, content-addressed storage, extraction, revisions."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import pytest
from pdf_builders import HELLO, damaged_pdf, decompression_bomb_pdf, encrypted_pdf, text_pdf
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from bids.attachments import (
    NotAPdf,
    UploadTooLarge,
    add_attachment,
    attachment_file_path,
    read_pdf_upload,
    remove_attachment,
    safe_pdf_filename,
)
from bids.errors import Forbidden, ValidationError
from bids.models import Attachment, ExtractionStatus, Revision

SMALL_LIMITS = {"MAX_UPLOAD_MB": 1, "PDF_EXTRACT_TIMEOUT_S": 5, "PDF_EXTRACT_MEMORY_MB": 256}


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


def upload(
    data: bytes, filename: str = "proposal.pdf", content_type: str = "application/pdf"
) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename, content_type=content_type)


def stored_files(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def attachment_count(db) -> int:
    return db.session.scalar(select(func.count(Attachment.id)))


@pytest.fixture
def member(factory):
    org = factory.org("Hebden Community Hall")
    return factory.user("editor@example.org", org=org), org


def test_real_pdf_is_stored_read_and_revised(app, db, factory, member, shared_data):
    user, org = member
    bid = factory.bid(org, title="Warm spaces")
    revisions_before = len(bid.revisions)
    pdf = shared_data / "pdfs" / "barker_michelle_2020.pdf"
    meta = next(
        json.loads(line)
        for line in (shared_data / "pdfs" / "metadata.jsonl").read_text().splitlines()
        if json.loads(line)["file"] == pdf.name
    )

    attachment = add_attachment(user, bid, upload(pdf.read_bytes(), filename=pdf.name))
    db.session.commit()

    assert attachment.id and attachment.bid_id == bid.id
    assert attachment.extraction_status == ExtractionStatus.OK
    assert attachment.pages == meta["pages"]
    assert attachment.sha256 == meta["sha256"]
    assert attachment.size == pdf.stat().st_size
    assert attachment.filename == "barker_michelle_2020.pdf"
    assert attachment.uploaded_by_id == user.id
    assert "Research Software" in attachment.text
    assert "Research Software" in bid.plain_text()
    path = attachment_file_path(attachment)
    assert path == Path(app.config["UPLOAD_DIR"]) / meta["sha256"][:2] / f"{meta['sha256']}.pdf"
    assert path.read_bytes() == pdf.read_bytes()
    assert stored_files(app) == [path]  # no temp file left behind
    assert len(bid.revisions) == revisions_before + 1
    assert bid.revisions[-1].note == "Attached barker_michelle_2020.pdf"
    assert bid.revisions[-1].snapshot["attachments"] == ["barker_michelle_2020.pdf"]


def test_draft_bid_gets_no_revision(db, factory, member):
    user, org = member
    bid = factory.bid(org, published=False)
    add_attachment(user, bid, upload(text_pdf()))
    db.session.commit()
    assert db.session.scalar(select(func.count(Revision.id)).where(Revision.bid_id == bid.id)) == 0
    assert bid.attachments[0].text == HELLO


def test_text_file_renamed_pdf_is_refused_and_nothing_is_stored(app, db, factory, member):
    user, org = member
    bid = factory.bid(org)
    fake = upload(
        b"Dear funder,\nplease find our budget attached.\n" * 50,
        filename="budget.pdf",
        content_type="application/pdf",
    )
    with pytest.raises(ValidationError) as caught:
        add_attachment(user, bid, fake)
    assert isinstance(caught.value, NotAPdf)
    assert caught.value.errors == {"file": "Only PDF files are accepted: this file is not a PDF."}
    db.session.rollback()
    assert attachment_count(db) == 0
    assert stored_files(app) == []


def test_magic_bytes_decide_not_the_name(db, factory, member):
    user, org = member
    bid = factory.bid(org, published=False)
    attachment = add_attachment(
        user, bid, upload(text_pdf(), filename="notes.txt", content_type="text/plain")
    )
    assert attachment.extraction_status == ExtractionStatus.OK
    assert attachment.filename == "notes.txt.pdf"


def test_pdf_after_a_bom_and_whitespace_is_accepted(db, factory, member):
    user, org = member
    bid = factory.bid(org, published=False)
    attachment = add_attachment(user, bid, upload(b"\xef\xbb\xbf\r\n  " + text_pdf()))
    assert attachment.extraction_status == ExtractionStatus.OK
    assert attachment.text == HELLO
    with pytest.raises(NotAPdf):
        add_attachment(user, bid, upload(b"x" + text_pdf()))


@pytest.mark.parametrize("app_config", [SMALL_LIMITS], indirect=True)
def test_oversized_upload_is_refused_without_storing(app, db, factory, member):
    user, org = member
    bid = factory.bid(org)
    two_mb = text_pdf() + b"%" + b"0" * (2 * 1024 * 1024)
    with pytest.raises(ValidationError) as caught:
        add_attachment(user, bid, upload(two_mb))
    assert isinstance(caught.value, UploadTooLarge)
    assert caught.value.errors == {"file": "The file is larger than 1 MB."}
    with pytest.raises(UploadTooLarge):
        read_pdf_upload(upload(two_mb))
    db.session.rollback()
    assert attachment_count(db) == 0
    assert stored_files(app) == []


def test_empty_or_missing_upload_is_refused(db, factory, member):
    user, org = member
    bid = factory.bid(org)
    with pytest.raises(ValidationError, match="empty"):
        add_attachment(user, bid, upload(b""))
    with pytest.raises(ValidationError, match="Choose a PDF"):
        add_attachment(user, bid, FileStorage(stream=io.BytesIO(b""), filename=""))
    with pytest.raises(ValidationError, match="Choose a PDF"):
        add_attachment(user, bid, None)


def test_encrypted_pdfs(db, factory, member):
    user, org = member
    bid = factory.bid(org)
    locked = add_attachment(user, bid, upload(encrypted_pdf("secret"), filename="locked.pdf"))
    open_ = add_attachment(user, bid, upload(encrypted_pdf("", "owner"), filename="open.pdf"))
    db.session.commit()
    assert locked.extraction_status == ExtractionStatus.ENCRYPTED
    assert locked.extraction_message.startswith("This PDF is encrypted")
    assert locked.text == "" and attachment_file_path(locked).is_file()
    assert open_.extraction_status == ExtractionStatus.OK and open_.text == HELLO


@pytest.mark.parametrize("app_config", [SMALL_LIMITS], indirect=True)
def test_decompression_bomb_is_kept_as_failed_and_the_bid_is_saved(app, db, factory, member):
    user, org = member
    bid = factory.bid(org)
    attachment = add_attachment(user, bid, upload(decompression_bomb_pdf(), filename="bomb.pdf"))
    db.session.commit()
    assert attachment.extraction_status == ExtractionStatus.FAILED
    assert attachment.extraction_message.startswith("We could not read text from this PDF")
    assert "took too long" not in attachment.extraction_message  # a limit stopped it, not the clock
    assert attachment.text == ""
    assert attachment_file_path(attachment).is_file()
    assert bid.revisions[-1].note == "Attached bomb.pdf"
    # The process is still fine: the next upload is read normally.
    assert add_attachment(user, bid, upload(text_pdf())).text == HELLO


def test_damaged_pdf_is_kept_as_failed(db, factory, member):
    user, org = member
    bid = factory.bid(org)
    attachment = add_attachment(user, bid, upload(damaged_pdf(), filename="broken.pdf"))
    db.session.commit()
    assert attachment.extraction_status == ExtractionStatus.FAILED
    assert "(it is damaged)" in attachment.extraction_message
    assert attachment.pages is None


def test_same_content_twice_is_stored_once(app, db, factory, member):
    user, org = member
    first_bid, second_bid = factory.bid(org), factory.bid(org)
    data = text_pdf()
    first = add_attachment(user, first_bid, upload(data, filename="a.pdf"))
    second = add_attachment(user, second_bid, upload(data, filename="b.pdf"))
    again = add_attachment(user, first_bid, upload(data, filename="a-again.pdf"))
    db.session.commit()
    assert again.id == first.id and len(first_bid.attachments) == 1
    assert first.id != second.id and first.sha256 == second.sha256
    assert second.text == HELLO and second.extraction_status == ExtractionStatus.OK
    assert stored_files(app) == [attachment_file_path(first)]
    assert first.sha256 == hashlib.sha256(data).hexdigest()


def test_non_members_cannot_attach(app, db, factory, member):
    _, org = member
    bid = factory.bid(org)
    outsider = factory.user("outsider@example.org", org=factory.org("Another Trust"))
    for actor in (outsider, None):
        with pytest.raises(Forbidden):
            add_attachment(actor, bid, upload(text_pdf()))
    assert attachment_count(db) == 0
    assert stored_files(app) == []


def test_remove_deletes_the_file_after_commit_only_when_unused(app, db, factory, member):
    user, org = member
    first_bid, second_bid = factory.bid(org), factory.bid(org)
    shared = add_attachment(user, first_bid, upload(text_pdf(), filename="shared.pdf"))
    add_attachment(user, second_bid, upload(text_pdf(), filename="shared.pdf"))
    only = add_attachment(user, first_bid, upload(text_pdf("Only here"), filename="only.pdf"))
    db.session.commit()
    shared_path, only_path = attachment_file_path(shared), attachment_file_path(only)

    outsider = factory.user("outsider@example.org", org=factory.org("Another Trust"))
    with pytest.raises(Forbidden):
        remove_attachment(outsider, only)

    remove_attachment(user, only)
    assert only_path.is_file()  # not before the commit
    db.session.rollback()
    db.session.commit()
    assert only_path.is_file()  # a rolled-back removal keeps the file

    only = db.session.get(Attachment, only.id)
    remove_attachment(user, only)
    remove_attachment(user, db.session.get(Attachment, shared.id))
    db.session.commit()
    assert not only_path.exists()
    assert shared_path.is_file()  # still attached to the second bid
    assert [a.filename for a in first_bid.attachments] == []
    assert first_bid.revisions[-1].note == "Removed shared.pdf"


def test_read_pdf_upload_checks_and_reads_without_storing(app, db):
    result = read_pdf_upload(upload(text_pdf()))
    assert result.status == ExtractionStatus.OK and result.text == HELLO
    scan = read_pdf_upload(upload(encrypted_pdf("secret")))
    assert scan.status == ExtractionStatus.ENCRYPTED and "kept" not in scan.message
    with pytest.raises(NotAPdf):
        read_pdf_upload(upload(b"<html>not a pdf</html>", filename="x.pdf"))
    assert stored_files(app) == []
    assert attachment_count(db) == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Budget 2024.pdf", "Budget_2024.pdf"),
        ("../../etc/passwd", "etc_passwd.pdf"),
        ("REPORT.PDF", "REPORT.pdf"),
        ("報告.pdf", "document.pdf"),
        ("", "document.pdf"),
        (None, "document.pdf"),
        ("a" * 300 + ".pdf", "a" * 200 + ".pdf"),
    ],
)
def test_filenames_are_sanitised(given, expected):
    assert safe_pdf_filename(given) == expected


def _age(path: Path, hours: float) -> None:
    old = time.time() - hours * 3600
    os.utime(path, (old, old))


def test_prune_collects_files_of_rolled_back_uploads_only(app, db, factory, member, runner):
    user, org = member
    kept = add_attachment(user, factory.bid(org), upload(text_pdf(), filename="kept.pdf"))
    db.session.commit()
    add_attachment(user, factory.bid(org), upload(text_pdf("Never saved"), filename="lost.pdf"))
    db.session.rollback()  # the upload's file stays behind, referenced by nothing
    kept_path = attachment_file_path(kept)
    lost_path = next(p for p in stored_files(app) if p != kept_path)
    tmp_path = lost_path.parent / ".upload-abc.tmp"  # an interrupted write
    tmp_path.write_bytes(b"%PDF-partial")
    for path in (kept_path, lost_path, tmp_path):
        _age(path, 2)

    dry = runner.invoke(args=["attachments", "prune", "--dry-run"])
    assert dry.exit_code == 0 and "Would delete 2 unreferenced files." in dry.output
    assert lost_path.is_file() and tmp_path.is_file()

    young = lost_path.parent / ("0" * 64 + ".pdf")  # unreferenced, but an upload may be in flight
    young.write_bytes(b"%PDF-1.7")
    result = runner.invoke(args=["attachments", "prune"])
    assert result.exit_code == 0 and "Deleted 2 unreferenced files." in result.output
    assert str(lost_path) in result.output
    assert not lost_path.exists() and not tmp_path.exists()
    assert kept_path.is_file() and young.is_file()
    assert (
        "Deleted 1 unreferenced file."
        in runner.invoke(args=["attachments", "prune", "--older-than", "0"]).output
    )
    assert stored_files(app) == [kept_path]
