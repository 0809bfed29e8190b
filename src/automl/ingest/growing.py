"""Reading an upload while it is still arriving: the receiving coroutine reports progress, a worker thread
reads the file on disk as it grows, so parsing overlaps the transfer instead of waiting for it."""
from __future__ import annotations

import threading
from pathlib import Path


class UploadAborted(Exception):
    """The upload failed (too large, refused, disconnected); its own error is what the client gets."""


class UploadProgress:
    """Shared by the coroutine writing the file and the thread reading it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._filename: str | None = None
        self._size = 0
        self._ended = False
        self._failed = False

    def started(self, filename: str) -> None:
        with self._cond:
            self._filename = filename
            self._cond.notify_all()

    def grew(self, size: int) -> None:
        with self._cond:
            self._size = size
            self._cond.notify_all()

    def end(self, *, ok: bool) -> None:
        with self._cond:
            if not self._ended:
                self._ended, self._failed = True, not ok
            self._cond.notify_all()

    def wait_started(self) -> str:
        with self._cond:
            self._cond.wait_for(lambda: self._filename is not None or self._ended)
            if self._failed or self._filename is None:
                raise UploadAborted()
            return self._filename

    def wait_for(self, size: int) -> int:
        """Block until `size` bytes are written or the upload is complete; the bytes available."""
        with self._cond:
            self._cond.wait_for(lambda: self._size >= size or self._ended)
            if self._failed:
                raise UploadAborted()
            return self._size

    def wait_complete(self) -> None:
        self.wait_for(1 << 62)


class GrowingFile:
    """A read-only binary file object over an upload in progress: `read` blocks until data arrives and
    returns b"" only once the upload is complete (pyarrow reads it through its Python file adapter)."""

    def __init__(self, path: Path, progress: UploadProgress) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._progress = progress
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            self._progress.wait_complete()
            data = self._file.read()
        else:
            available = self._progress.wait_for(self._pos + size)
            data = self._file.read(min(size, max(0, available - self._pos)))
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GrowingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
