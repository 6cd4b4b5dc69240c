"""Opening an index segment without copying it: Whoosh's memory-mapped files, read in place.

Whoosh memory-maps each segment's compound file and wraps every part it opens (terms,
postings, columns) in a `BufferFile`, whose constructor copies the part into an
`io.BytesIO` (CPython's BytesIO copies any buffer that is not `bytes`). Every new reader
opens every part of every segment, so each write (its writer's reader) and the first search
after it (a fresh searcher) copied the whole index: ~100 MB at 42k bids, 70-400 ms a write.
`ZeroCopyBufferFile` reads the mapped memory through `MemoryReader` instead, a read-only file
over the buffer; what Whoosh reads is the same bytes. `install()` (called by
`search_index.init_app`) makes Whoosh's compound storage use it.
"""

from __future__ import annotations

import io
import os

from whoosh.filedb import compound
from whoosh.filedb.structfile import BufferFile

_CHUNK = 4096


class MemoryReader(io.RawIOBase):
    """A read-only binary file over a buffer; reads return copies of only what they read."""

    def __init__(self, buf) -> None:
        super().__init__()
        self._view = memoryview(buf).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        total = len(self._view)
        end = total if size is None or size < 0 else min(total, self._pos + size)
        start, self._pos = self._pos, max(self._pos, end)
        return self._view[start:end].tobytes()

    def readinto(self, buffer) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = len(self._view) if size is None or size < 0 else self._pos + size
        limit = min(limit, len(self._view))
        end = self._pos
        while end < limit:
            chunk = self._view[end : min(limit, end + _CHUNK)].tobytes()
            found = chunk.find(b"\n")
            if found != -1:
                end += found + 1
                break
            end += len(chunk)
        start, self._pos = self._pos, end
        return self._view[start:end].tobytes()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += len(self._view)
        if offset < 0:
            raise ValueError("negative seek position")
        self._pos = offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._view.release()  # our view only: the mapping can then be closed
        super().close()


class ZeroCopyBufferFile(BufferFile):
    """Whoosh's BufferFile over `MemoryReader` instead of a BytesIO copy of the buffer."""

    def __init__(self, buf, name=None, onclose=None) -> None:
        super().__init__(b"", name=name, onclose=onclose)
        self._buf = buf
        self.file = MemoryReader(buf)


def install() -> None:
    """Make Whoosh's compound (segment) files open without copying; idempotent."""
    compound.BufferFile = ZeroCopyBufferFile  # the name CompoundStorage.open_file calls
