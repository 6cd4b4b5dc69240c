"""Text of an uploaded PDF, read by pypdf in a separate, limited process.

pypdf parses hostile input (decompression bombs, reference loops, huge content
streams). Its own limits cap some memory use but give no time limit, so the
parsing happens in a child process with a wall-clock timeout (killed on expiry),
an address-space limit and a CPU-time backstop. The child speaks JSON on stdout.

This module is also the child's entry point (`python -m bids.pdf_text MEMORY_MB
CPU_S`, PDF on stdin): keep its top-level imports to the standard library so the
child starts fast and never loads Flask or SQLAlchemy.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_TEXT_CHARS = 2_000_000
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Why extraction failed, as the parent tells the user.
REASON_TIMEOUT = "it took too long"
REASON_MEMORY = "it used too much memory"
REASON_DAMAGED = "it is damaged"

# A scan may still carry a little real text (a typed cover page) or glyphs drawn with
# fonts that map to no characters, which pypdf renders as runs like "/0 /1/2 /3/i255".
# A page has text when it keeps this many letters once such runs are removed; a PDF
# has a text layer when at least this share of its pages (and at least one) has text.
MIN_LETTERS_PER_PAGE = 20
MIN_TEXT_PAGE_SHARE = 0.1
_UNMAPPED_GLYPHS = re.compile(r"(?:/[A-Za-z]{0,3}\d+\s*){5,}")

# Child exit codes when no JSON could be written.
_EXIT_MEMORY = 3


@dataclass(frozen=True)
class PdfText:
    """What extraction found. `status` is a `bids.models.ExtractionStatus` value."""

    status: str
    message: str
    text: str
    pages: int | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def status_message(
    status: str, *, pages: int | None = None, reason: str = "", stored: bool = True
) -> str:
    """The sentence a user reads about this PDF's text."""
    kept = "it is kept, but its words" if stored else "its words"
    if status == "ok":
        count = pages or 0
        return f"Text read from {count} page{'s' if count != 1 else ''}."
    if status == "no_text_layer":
        return f"This PDF is a scan with no text layer: {kept} cannot be searched."
    if status == "encrypted":
        return (
            f"This PDF is encrypted with a password: {kept} cannot be searched. "
            "Upload a copy without a password to make it searchable."
        )
    return (
        f"We could not read text from this PDF ({reason or REASON_DAMAGED}): "
        f"{kept} cannot be searched."
    )


def extract_pdf_text(
    data: bytes, *, timeout_s: float, memory_mb: int, stored: bool = True
) -> PdfText:
    """Extract the text of `data` in a child process; never raises for a bad PDF.

    `stored=False` words the messages for a PDF that is only read, not kept.
    """
    from bids.models import ExtractionStatus  # lazy: the child must not import Flask

    def failed(reason: str, pages: int | None = None) -> PdfText:
        return PdfText(
            ExtractionStatus.FAILED,
            status_message("failed", reason=reason, stored=stored),
            "",
            pages,
        )

    cpu_s = max(1, math.ceil(timeout_s) + 1)
    command = [sys.executable, "-s", "-m", "bids.pdf_text", str(int(memory_mb)), str(cpu_s)]
    try:
        done = subprocess.run(
            command,
            input=data,
            capture_output=True,
            timeout=timeout_s,
            cwd=PROJECT_ROOT,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        return failed(REASON_TIMEOUT)
    try:
        result = json.loads(done.stdout)
        status = ExtractionStatus(result["status"])
    except (ValueError, KeyError, TypeError):
        if done.returncode == _EXIT_MEMORY or b"MemoryError" in done.stderr:
            return failed(REASON_MEMORY)
        if done.returncode in (-9, -24):  # SIGKILL / SIGXCPU: the CPU backstop
            return failed(REASON_TIMEOUT)
        return failed(REASON_DAMAGED)
    pages = result.get("pages")
    if status == ExtractionStatus.FAILED:
        return failed(result.get("reason") or REASON_DAMAGED, pages)
    text = _clean_text(result.get("text") or "") if status == ExtractionStatus.OK else ""
    return PdfText(status, status_message(status, pages=pages, stored=stored), text, pages)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(?:\n\s*)+")


def _clean_text(text: str) -> str:
    """Strip NULs and control characters, collapse runs of spaces and blank lines, cap."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text[:MAX_TEXT_CHARS]


# --- The child -----------------------------------------------------------------------------


def _limit_resources(memory_mb: int, cpu_s: int) -> None:
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))


def _read_pdf(data: bytes) -> dict:
    """Runs in the child, under the limits."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    logging.disable(logging.WARNING)  # pypdf logs every oddity of real-world files
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                readable = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001 - unsupported algorithm, missing crypto library
                readable = False
            if not readable:
                return {"status": "encrypted", "pages": None}
        pages = len(reader.pages)
        texts: list[str] = []
        pages_with_text = length = 0
        for page in reader.pages:
            text = _UNMAPPED_GLYPHS.sub(" ", (page.extract_text() or "").replace("\x00", ""))
            texts.append(text)
            pages_with_text += sum(ch.isalpha() for ch in text) >= MIN_LETTERS_PER_PAGE
            length += len(text)
            if length >= MAX_TEXT_CHARS:
                break
    except (MemoryError, LimitReachedError):
        return {"status": "failed", "reason": REASON_MEMORY}
    except Exception:  # noqa: BLE001 - any parser error (or reference loop) means a damaged file
        return {"status": "failed", "reason": REASON_DAMAGED}
    if pages_with_text < max(1, math.ceil(MIN_TEXT_PAGE_SHARE * pages)):
        return {"status": "no_text_layer", "pages": pages}
    text = "\n\n".join(texts)[:MAX_TEXT_CHARS]
    return {"status": "ok", "pages": pages, "text": text}


def _child_main(argv: list[str]) -> int:
    memory_mb, cpu_s = int(argv[0]), int(argv[1])
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but our JSON reaches the parent's stdout
    try:
        _limit_resources(memory_mb, cpu_s)
        result = _read_pdf(data)
        del data
        out.write(json.dumps(result).encode("utf-8"))
        out.flush()
    except MemoryError:
        os._exit(_EXIT_MEMORY)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
