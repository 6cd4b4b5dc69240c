"""PDF attachments of bids: checked, stored content-addressed, their text extracted.

An upload is trusted for nothing: its size is capped while reading, its type is
its first bytes (not its name or the client's content type), and its text is
read in a limited child process (`bids.pdf_text`). A PDF whose text cannot be
read is still kept, with a status and a message the user reads.

Services flush; the caller commits. Files are written before the commit (a
rolled-back upload leaves an unreferenced, content-addressed file, harmless) and
deleted only after the commit that removed their last attachment. `prune_orphan_files`
(`flask --app portal attachments prune`) collects what rolled-back uploads left.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from bids.access import can_edit
from bids.database import db, utcnow
from bids.errors import Forbidden, ValidationError
from bids.models import Attachment, Bid, ExtractionStatus, User
from bids.pdf_text import PdfText, extract_pdf_text, status_message
from bids.publishing import add_revision

PDF_MAGIC = b"%PDF-"
# pypdf reads a PDF preceded by a byte-order mark or PDF whitespace, so we accept that
# much leading noise and nothing else.
_UTF8_BOM = b"\xef\xbb\xbf"
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_MAX_LEADING_BYTES = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Results that depend only on the bytes, so another upload of the same file can reuse them.
_REUSABLE = {ExtractionStatus.OK, ExtractionStatus.NO_TEXT_LAYER, ExtractionStatus.ENCRYPTED}
_PENDING_DELETIONS = "openbids.attachment_files_to_delete"


class UploadTooLarge(ValidationError):
    """The upload is over `MAX_UPLOAD_MB` (HTTP 413 in the API)."""

    code = "payload_too_large"
    http_status = 413


class NotAPdf(ValidationError):
    """The upload does not start like a PDF (HTTP 415 in the API)."""

    code = "unsupported_media_type"
    http_status = 415


def read_pdf_upload(file_storage: Any) -> PdfText:
    """Check and read an uploaded PDF without storing it (for checking a draft)."""
    data = _read_checked_upload(file_storage)
    return _extract(data, stored=False)


def add_attachment(actor: User | None, bid: Bid, file_storage: Any) -> Attachment:
    """Attach an uploaded PDF to `bid`; a published bid gets a revision."""
    if not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can attach files to it.")
    data = _read_checked_upload(file_storage)
    sha256 = hashlib.sha256(data).hexdigest()
    for existing in bid.attachments:
        if existing.sha256 == sha256:
            return existing  # the same file again: nothing new to record
    filename = safe_pdf_filename(getattr(file_storage, "filename", None))
    _store(data, sha256)
    result = _known_result(sha256) or _extract(data, stored=True)
    attachment = Attachment(
        filename=filename,
        size=len(data),
        sha256=sha256,
        pages=result.pages,
        text=result.text,
        extraction_status=result.status,
        extraction_message=result.message,
        uploaded_by_id=actor.id if actor else None,
    )
    bid.attachments.append(attachment)
    _touch(actor, bid, note=f"Attached {filename}")
    return attachment


def remove_attachment(actor: User | None, attachment: Attachment) -> None:
    """Detach a PDF; its file goes once the commit removes its last attachment."""
    bid = attachment.bid
    if not can_edit(actor, bid):
        raise Forbidden("Only members of the bid's organisation can remove its files.")
    filename, sha256 = attachment.filename, attachment.sha256
    bid.attachments.remove(attachment)  # delete-orphan cascade deletes the row
    db.session.flush()
    still_used = db.session.scalar(
        select(func.count(Attachment.id)).where(Attachment.sha256 == sha256)
    )
    if not still_used:
        path = _path_for(sha256)
        db.session().info.setdefault(_PENDING_DELETIONS, set()).add(path)
    _touch(actor, bid, note=f"Removed {filename}")


def attachment_file_path(attachment: Attachment) -> Path:
    """Where the attachment's bytes are stored."""
    return _path_for(attachment.sha256)


def safe_pdf_filename(name: str | None) -> str:
    """A filename safe to store and to send back in Content-Disposition, ending in .pdf."""
    name = secure_filename(name or "")
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    stem = stem.strip("._")[:200]
    if not stem or stem.lower() == "pdf":
        return "document.pdf"
    return f"{stem}.pdf"


def looks_like_pdf(data: bytes) -> bool:
    """True when the bytes start with the PDF header, after at most a BOM and whitespace."""
    head = data[: _MAX_LEADING_BYTES + len(PDF_MAGIC)]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    stripped = head.lstrip(_PDF_WHITESPACE)
    return len(head) - len(stripped) <= _MAX_LEADING_BYTES and stripped.startswith(PDF_MAGIC)


# --- Internals ------------------------------------------------------------------------------


def _read_checked_upload(file_storage: Any) -> bytes:
    if file_storage is None or not getattr(file_storage, "filename", None):
        raise ValidationError({"file": "Choose a PDF file to upload."})
    max_mb = int(current_app.config["MAX_UPLOAD_MB"])
    limit = max_mb * 1024 * 1024
    stream: IO[bytes] = getattr(file_storage, "stream", file_storage)
    data = stream.read(limit + 1)  # never more than one byte past the limit
    if len(data) > limit:
        raise UploadTooLarge({"file": f"The file is larger than {max_mb} MB."})
    if not data:
        raise ValidationError({"file": "The file is empty."})
    if not looks_like_pdf(data):
        raise NotAPdf({"file": "Only PDF files are accepted: this file is not a PDF."})
    return data


def _extract(data: bytes, *, stored: bool) -> PdfText:
    config = current_app.config
    return extract_pdf_text(
        data,
        timeout_s=float(config["PDF_EXTRACT_TIMEOUT_S"]),
        memory_mb=int(config["PDF_EXTRACT_MEMORY_MB"]),
        stored=stored,
    )


def _known_result(sha256: str) -> PdfText | None:
    """The extraction of an earlier upload of the same bytes, when it did not fail."""
    earlier = db.session.scalar(
        select(Attachment)
        .where(Attachment.sha256 == sha256, Attachment.extraction_status.in_(_REUSABLE))
        .order_by(Attachment.id)
        .limit(1)
    )
    if earlier is None:
        return None
    status = ExtractionStatus(earlier.extraction_status)
    return PdfText(status, status_message(status, pages=earlier.pages), earlier.text, earlier.pages)


def _path_for(sha256: str) -> Path:
    if not _SHA256.match(sha256 or ""):
        raise ValueError("An attachment's sha256 must be 64 lowercase hex digits.")
    return Path(current_app.config["UPLOAD_DIR"]) / sha256[:2] / f"{sha256}.pdf"


def _store(data: bytes, sha256: str) -> Path:
    """Write once per content: a temp file in the same folder, then an atomic rename."""
    path = _path_for(sha256)
    if path.is_file() and path.stat().st_size == len(data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


ORPHAN_GRACE = timedelta(hours=1)


def prune_orphan_files(grace: timedelta = ORPHAN_GRACE, *, dry_run: bool = False) -> list[Path]:
    """Delete stored files no attachment refers to, and interrupted temp files; the paths.

    Only files older than `grace` go: an upload in flight writes its file before the commit
    that adds its attachment row.
    """
    root = Path(current_app.config["UPLOAD_DIR"])
    if not root.is_dir():
        return []
    cutoff = time.time() - grace.total_seconds()
    candidates: dict[str, list[Path]] = {}
    for path in sorted(root.glob("*/*")):
        if not path.is_file() or path.stat().st_mtime > cutoff:
            continue
        if path.name.startswith(".upload-") and path.suffix == ".tmp":
            candidates.setdefault("", []).append(path)
        elif path.suffix == ".pdf" and _SHA256.match(path.stem):
            candidates.setdefault(path.stem, []).append(path)
    hashes = [h for h in candidates if h]
    referenced: set[str] = set()
    for start in range(0, len(hashes), 500):
        referenced.update(
            db.session.scalars(
                select(Attachment.sha256)
                .distinct()
                .where(Attachment.sha256.in_(hashes[start : start + 500]))
            )
        )
    orphans = [
        path for sha256, paths in candidates.items() if sha256 not in referenced for path in paths
    ]
    if not dry_run:
        for path in orphans:
            path.unlink(missing_ok=True)
    return orphans


def _touch(actor: User | None, bid: Bid, *, note: str) -> None:
    """Mark the bid changed (its text did) and keep a revision of a published bid."""
    bid.updated_at = utcnow()
    db.session.flush()
    if bid.is_published:
        add_revision(actor, bid, note=note)


def _delete_files_after_commit(session: Session) -> None:
    for path in session.info.pop(_PENDING_DELETIONS, ()):
        path.unlink(missing_ok=True)


def _keep_files_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_DELETIONS, None)


def listen() -> None:
    """Delete a removed attachment's file only once its removal is committed (once per process)."""
    if not event.contains(Session, "after_commit", _delete_files_after_commit):
        event.listen(Session, "after_commit", _delete_files_after_commit)
        event.listen(Session, "after_rollback", _keep_files_after_rollback)
