"""Size and shape limits on untrusted files, known before anything large is allocated.

A workbook says how big it is before it is parsed: the zip directory declares each part's decompressed size
(a 2 MB file can hold 2 GB of XML), and a sheet's `<dimension ref="A1:XFD1048576"/>` declares its range
(calamine allocates the whole range: 17 billion cells). Parquet's footer gives rows x columns. Those are
checked here and refused with TooLarge (413) naming the limit; CSV, which declares nothing, is counted while
it streams (`check_cells`, `check_line`). Whatever these checks miss is caught by the parsing sandbox's
memory and time limits (automl.ingest.sandbox).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from automl.errors import BadInput, TooLarge

MiB = 1 << 20
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?\"")
_SHEET_DATA = re.compile(rb"<(?:\w+:)?sheetData")
_FIRST_SHEET = re.compile(r"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"")
_RELATION = re.compile(r"<Relationship\b[^>]*>")
_ATTR = re.compile(r"(\w+)=\"([^\"]*)\"")


@dataclass(frozen=True)
class ParseLimits:
    """Caps on one untrusted file. `max_cells`, `memory_mb`, `timeout_s` are settings (AUTOML_MAX_CELLS,
    AUTOML_PARSE_MEMORY_MB, AUTOML_PARSE_TIMEOUT_S; these defaults are config.py's, a test keeps them equal);
    the rest are properties of the formats."""

    max_cells: int = 200_000_000  # rows x columns
    max_columns: int = 100_000
    memory_mb: int = 16384  # address space of the parsing child (RLIMIT_AS); at 4 GB Arrow's allocator crawls
    timeout_s: float = 300.0  # wall clock of the parsing child, counted once the file has arrived
    max_unzipped_mb: int = 2048  # an .xlsx's parts, decompressed, all together
    max_zip_ratio: int = 100  # decompressed / compressed, for any part over 1 MiB decompressed
    max_zip_entries: int = 10_000
    max_line_mb: int = 64  # one CSV line (a header or a row)


def check_cells(rows: int, cols: int, limits: ParseLimits) -> None:
    if cols > limits.max_columns:
        raise TooLarge(f"the file has {cols:,} columns; the limit is {limits.max_columns:,}")
    if rows * cols > limits.max_cells:
        raise TooLarge(f"the file has more than {limits.max_cells:,} cells (rows x columns, here {rows:,} x "
                       f"{cols:,}); the limit is AUTOML_MAX_CELLS")


def check_line(length: int, limits: ParseLimits) -> None:
    if length > limits.max_line_mb * MiB:
        raise TooLarge(f"the file has a line longer than {limits.max_line_mb} MB; a CSV needs a line break "
                       "after each row")


def check_parquet(path: Path, filename: str, limits: ParseLimits) -> None:
    """Rows x columns from the footer, before any row group is read."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, MemoryError):
            raise
        raise BadInput(f"{filename!r} is not a readable Parquet file: {exc}") from None
    check_cells(meta.num_rows, meta.num_columns, limits)


def check_xlsx(path: Path, filename: str, limits: ParseLimits) -> None:
    """The zip directory's declared sizes and ratios, and the first sheet's declared dimension."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_zip_entries:
                raise TooLarge(f"the workbook has {len(infos):,} parts; the limit is {limits.max_zip_entries:,}")
            _check_sizes(infos, limits)
            sheet = _first_sheet(zf)
            if sheet is not None:
                _check_dimension(zf, sheet, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise BadInput(f"{filename!r} is not a readable Excel workbook (damaged zip): {exc}") from None


def _check_sizes(infos: list[zipfile.ZipInfo], limits: ParseLimits) -> None:
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_mb * MiB:
        raise TooLarge(f"the workbook decompresses to {total // MiB:,} MB; the limit is {limits.max_unzipped_mb:,} MB")
    for info in infos:
        ratio = info.file_size // max(1, info.compress_size)
        if info.file_size > MiB and ratio > limits.max_zip_ratio:
            raise TooLarge(f"the workbook part {info.filename[:100]!r} decompresses {ratio:,} times its size"
                           f" ({info.file_size // MiB:,} MB); the limit is {limits.max_zip_ratio}"
                           " times: a zip bomb, or a sheet of little but blank space")


def _small_text(zf: zipfile.ZipFile, name: str) -> str | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > 16 * MiB:
        raise TooLarge(f"the workbook part {name!r} is larger than 16 MB")
    with zf.open(info) as f:
        return f.read(16 * MiB).decode("utf-8", "replace")


def _first_sheet(zf: zipfile.ZipFile) -> str | None:
    """The part of the workbook's first sheet (the one calamine reads), or None when it cannot be told."""
    workbook, rels = _small_text(zf, "xl/workbook.xml"), _small_text(zf, "xl/_rels/workbook.xml.rels")
    first = _FIRST_SHEET.search(workbook or "")
    if first is not None and rels is not None:
        for tag in _RELATION.findall(rels):
            attrs = dict(_ATTR.findall(tag))
            if attrs.get("Id") == first.group(1) and "Target" in attrs:
                target = attrs["Target"]
                return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return "xl/worksheets/sheet1.xml" if "xl/worksheets/sheet1.xml" in zf.namelist() else None


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_dimension(zf: zipfile.ZipFile, sheet: str, limits: ParseLimits) -> None:
    """`<dimension>` comes before `<sheetData>`: read the sheet's decompressed start only."""
    try:
        info = zf.getinfo(sheet)
    except KeyError:
        return
    head = b""
    with zf.open(info) as f:
        while len(head) < 4 * MiB and not _SHEET_DATA.search(head):
            chunk = f.read(64 * 1024)
            if not chunk:
                break
            head += chunk
    found = _DIMENSION.search(head)
    if found is None or found.group(3) is None:
        return
    first_col, first_row, last_col, last_row = found.groups()
    cols = _column_number(last_col) - _column_number(first_col or b"A") + 1
    rows = int(last_row) - int(first_row or b"1") + 1
    if cols > 0 and rows > 0:
        check_cells(rows, cols, limits)
