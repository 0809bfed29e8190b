"""Reading an upload while it is still arriving: the receiving coroutine reports progress, a reader (a
thread, or the parsing sandbox's child process) reads the file on disk as it grows, so parsing overlaps the
transfer instead of waiting for it."""
from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.002  # how often a waiting reader looks again; far below the time one slice takes to parse
IDLE_S = 900.0  # a reader whose upload stopped growing this long gives up (its server may be gone)
_ARRIVING, _COMPLETE, _FAILED = 0, 1, 2


class UploadAborted(Exception):
    """The upload failed (too large, refused, disconnected); its own error is what the client gets."""


class UploadProgress:
    """Shared by the coroutine writing the file and the reader, which may be another process: the state is
    in shared memory (one writer; a reader polls), so the object can be handed to a child process."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self._size = ctx.RawValue("q", 0)
        self._state = ctx.RawValue("i", _ARRIVING)
        self._name = ctx.RawArray("c", 1024)  # the validated filename, UTF-8 (at most 255 bytes)
        self._named = ctx.RawValue("i", 0)

    def started(self, filename: str) -> None:
        self._name.value = filename.encode()[:1023]
        self._named.value = 1

    def grew(self, size: int) -> None:
        self._size.value = size

    def end(self, *, ok: bool) -> None:
        if self._state.value == _ARRIVING:
            self._state.value = _COMPLETE if ok else _FAILED

    @property
    def complete(self) -> bool:
        return self._state.value != _ARRIVING

    def wait_started(self) -> str:
        self._wait(lambda: bool(self._named.value))
        if self._state.value == _FAILED or not self._named.value:
            raise UploadAborted()
        return self._name.value.decode("utf-8", "replace")

    def wait_for(self, size: int) -> int:
        """Block until `size` bytes are written or the upload is complete; the bytes available."""
        self._wait(lambda: self._size.value >= size)
        if self._state.value == _FAILED:
            raise UploadAborted()
        return self._size.value

    def wait_complete(self) -> None:
        self.wait_for(1 << 62)

    def _wait(self, ready: Callable[[], bool]) -> None:
        last, since = -1, time.monotonic()
        while self._state.value == _ARRIVING and not ready():
            size = self._size.value
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since > IDLE_S:
                raise UploadAborted()
            time.sleep(POLL_S)


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
