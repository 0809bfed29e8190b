"""Stream one file out of a multipart request body straight to disk, enforcing a size limit as it arrives.

Starlette's `request.form()` spools the part to a temporary file and copies it again; this parses the body
with python-multipart's streaming parser and writes each chunk once. Over the limit, the rest of the body
is still read (and discarded) so the client, which sends everything before reading, gets a 413 answer
instead of a connection reset. HTTP stops here: services and ingest get the file's path.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import Request

from automl.errors import BadInput, DomainError, TooLarge, UnsupportedMedia
from automl.ingest.filenames import UploadedFile, check_suffix, clean_filename
from automl.ingest.growing import UploadProgress
from automl.storage import Storage

MAX_TEXT_FIELD = 1024


class _PartWriter:
    """python-multipart callbacks: pick the first part named `field` that carries a filename, write it out."""

    def __init__(self, dest: Path, *, max_bytes: int, field: str, suffixes: tuple[str, ...] | None,
                 progress: UploadProgress | None, form: dict[str, str] | None = None) -> None:
        self.dest, self.max_bytes, self.field, self.suffixes = dest, max_bytes, field.encode(), suffixes
        self.form = {} if form is None else form  # the small text fields asked for, filled as they arrive
        self._text: tuple[str, bytearray] | None = None
        self.progress = progress
        self.filename: str | None = None
        self.size = 0
        self.error: DomainError | None = None
        self.file: IO[bytes] | None = None
        self.hash = hashlib.sha256()
        self.writing = False
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks TypedDict
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in opts and name in self.form:
            self._text = (name, bytearray())
            return
        if opts.get(b"name") != self.field or b"filename" not in opts or self.filename is not None:
            return
        self.filename = opts[b"filename"].decode("utf-8", "replace")
        try:
            self.filename = clean_filename(self.filename)
            if self.suffixes is not None:
                check_suffix(self.filename, self.suffixes)
        except DomainError as exc:
            self.error = exc
            return
        self.file = open(self.dest, "wb")  # noqa: SIM115 - closed in _part_end or by receive_upload
        self.writing = True
        if self.progress is not None:
            self.progress.started(self.filename)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            self._text[1].extend(data[start:end])
            if len(self._text[1]) > MAX_TEXT_FIELD:
                self.error = BadInput(f"the form field {self._text[0]!r} is longer than {MAX_TEXT_FIELD} bytes")
                self._text = None
            return
        if not self.writing:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            self.error = TooLarge(f"the file is larger than the upload limit of {self.max_bytes // 2**20} MB")
            self.close(remove=True)
            return
        chunk = memoryview(data)[start:end]
        self.hash.update(chunk)
        assert self.file is not None
        self.file.write(chunk)
        if self.progress is not None:  # flushed first: the reader must find every byte it is told about
            self.file.flush()
            self.progress.grew(self.size)

    def _part_end(self) -> None:
        if self._text is not None:
            self.form[self._text[0]] = self._text[1].decode("utf-8", "replace")
            self._text = None
        if self.writing:
            self.writing = False
            self.close(remove=False)

    def close(self, *, remove: bool) -> None:
        self.writing = False
        if self.file is not None:
            self.file.close()
            self.file = None
        if remove:
            Storage.remove(self.dest)


def _boundary(request: Request) -> bytes:
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not opts.get(b"boundary"):
        raise UnsupportedMedia("send the file as multipart/form-data with a 'file' field")
    return opts[b"boundary"]


async def receive_upload(
    request: Request,
    dest: Path,
    *,
    max_bytes: int,
    field: str = "file",
    suffixes: tuple[str, ...] | None = None,
    progress: UploadProgress | None = None,
    form: dict[str, str] | None = None,
) -> UploadedFile:
    """Write the multipart part `field` to `dest` as it arrives; on any error `dest` is gone and a DomainError
    (400 malformed or missing, 413 too large, 415 wrong type or extension not in `suffixes`) is raised.

    With `progress`, a thread can read `dest` while it grows (see automl.ingest.growing). `form`: text fields
    wanted, by name (values: their defaults), each replaced by the value sent (at most MAX_TEXT_FIELD bytes)."""
    writer = _PartWriter(dest, max_bytes=max_bytes, field=field, suffixes=suffixes, progress=progress, form=form)
    ok = False
    try:
        await _feed(request, writer)
        ok = True
    finally:
        if progress is not None:
            progress.end(ok=ok)
    assert writer.filename is not None
    return UploadedFile(writer.filename, writer.size, dest, writer.hash.hexdigest())


async def _feed(request: Request, writer: _PartWriter) -> None:
    parser = MultipartParser(_boundary(request), writer.callbacks())
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        writer.close(remove=True)
        if writer.error is not None:
            raise writer.error from None
        raise BadInput(f"malformed multipart body: {exc}") from None
    except BaseException:
        writer.close(remove=True)
        raise
    if writer.writing or writer.error is not None:  # a part cut short, or refused while draining
        writer.close(remove=True)
        raise writer.error or BadInput("the upload ended before the file was complete")
    if writer.filename is None:
        raise BadInput(f"no file found in the multipart field {writer.field.decode()!r}")
