"""Hostile and hand-made PDFs for the upload and extraction tests (built, never stored)."""

from __future__ import annotations

import io
import zlib

from pypdf import PdfReader, PdfWriter

HELLO = "Hello world, this is a real text layer about village halls"


def minimal_pdf(content: bytes, filters: str = "") -> bytes:
    """A one-page PDF whose page content stream is `content` (already encoded by `filters`)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d %s >>\nstream\n" % (len(content), filters.encode())
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def text_pdf(text: str = HELLO) -> bytes:
    return minimal_pdf(b"BT /F1 18 Tf 72 700 Td (%s) Tj ET" % text.encode("latin-1"))


def encrypted_pdf(user_password: str, owner_password: str | None = None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf())))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zeros_zlib_stream(megabytes: int) -> bytes:
    """A valid zlib stream of `megabytes` MiB of zeros, built without compressing them all.

    After a full flush the compressor starts afresh, so every further MiB encodes to the
    same bytes; the Adler-32 of N zero bytes is ((N mod 65521) << 16) | 1.
    """
    chunk = b"\0" * (1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    ending = compressor.flush()[:-4]  # the empty final block, without the checksum
    adler = (((megabytes << 20) % 65521) << 16) | 1
    return first + again * (megabytes - 1) + ending + adler.to_bytes(4, "big")


def decompression_bomb_pdf(gigabytes: int = 4) -> bytes:
    """A page whose content stream is a few KB that inflates (twice) to GBs of zeros."""
    inner = zeros_zlib_stream(gigabytes * 1024)
    return minimal_pdf(zlib.compress(inner, 9), "/Filter [/FlateDecode /FlateDecode]")


def operator_flood_pdf() -> bytes:
    """A page of ~65 MB of text-showing operators (under pypdf's stream limit) in 1 KB."""
    compressor = zlib.compressobj(9)
    chunk = b"BT /F1 12 Tf (ab) Tj ET\n" * 40_000
    inner = b"".join(compressor.compress(chunk) for _ in range(70)) + compressor.flush()
    return minimal_pdf(zlib.compress(inner, 9), "/Filter [/FlateDecode /FlateDecode]")


def damaged_pdf() -> bytes:
    return b"%PDF-1.4\n" + bytes(range(256)) * 40
