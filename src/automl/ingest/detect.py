"""What a file is: its format (from the extension, checked against the content) and, for text, its encoding
and delimiter, both detected from the first 64 KB."""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from automl.errors import BadInput, UnsupportedMedia

SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet")
FORMAT_OF = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xls": "xls", ".parquet": "parquet"}
HEAD_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, and the container of password-protected .xlsx
ZIP = b"PK\x03\x04"
_MAGIC = (
    (ZIP, "a ZIP archive or XLSX workbook"), (OLE2, "an XLS workbook or other Office document"),
    (b"PAR1", "a Parquet file"), (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"), (b"GIF8", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"BZh", "a bzip2 archive"), (b"7z\xbc\xaf", "a 7z archive"), (b"Rar!", "a RAR archive"),
    (b"MZ", "a Windows executable"), (b"\x7fELF", "an executable"),
)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_WESTERN = ("latin", "iso8859", "cp125", "cp850", "mac_", "ascii")


@dataclass(frozen=True)
class TextDialect:
    encoding: str
    delimiter: str
    header: list[str]
    quoted_newlines: bool  # a quoted value spans lines in the sample: the parser must allow it


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def content_label(head: bytes) -> str | None:
    """A human name for binary content recognised by its magic bytes; None when it does not look binary."""
    for magic, label in _MAGIC:
        if head.startswith(magic):
            return label
    return None


def detect_format(path: Path, filename: str) -> str:
    """csv | xlsx | xls | parquet, from the extension; refuses content that contradicts it."""
    suffix = Path(filename).suffix.lower()
    fmt = FORMAT_OF.get(suffix)
    if fmt is None:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise UnsupportedMedia(f"unsupported file type ({shown}); upload one of: {', '.join(SUFFIXES)}")
    head = read_head(path, 4096)
    if not head:
        raise BadInput("the file is empty")
    label = content_label(head)
    expected = {"xlsx": ZIP, "xls": OLE2, "parquet": b"PAR1"}.get(fmt)
    if fmt == "xlsx" and head.startswith(OLE2):
        return "xlsx"  # an encrypted workbook or a legacy one misnamed; the Excel reader says which
    if expected is not None and not head.startswith(expected):
        what = label or "text or an unknown format"
        raise BadInput(f"{filename!r} is not a valid {fmt.upper()} file: its content looks like {what}")
    if fmt == "csv" and label is not None:
        raise BadInput(f"{filename!r} is not a text file: its content looks like {label}; upload it with the"
                       " matching extension or export it as CSV")
    return fmt


def _decode_head(head: bytes) -> tuple[str, str]:
    """(encoding for the whole file, decoded sample); UTF-8 with or without BOM first, then a detected one."""
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc, head.decode(enc, errors="replace").lstrip("\ufeff")
    try:
        return "utf-8", codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        pass
    # A handful of accented bytes fits many code pages; trust a non-Western guess only with enough evidence.
    # Western text gets cp1252 (latin-1 plus typographic quotes and the euro sign).
    best = from_bytes(head[:16384]).best() if sum(b > 127 for b in head[:16384]) >= 64 else None
    name = best.encoding if best is not None else "cp1252"
    if name.startswith(_WESTERN):
        name = "cp1252"
    for encoding in (name, "cp1252", "latin-1"):
        try:
            return encoding, head.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls > max(8, len(text[:8192]) // 100)


def _rows(sample: str, delimiter: str, limit: int = 200) -> list[list[str]]:
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _pick_delimiter(sample: str, preferred: str | None) -> str:
    """The candidate that splits the header into the most fields with the most consistent row lengths."""
    if preferred is not None:
        return preferred
    best, best_score = ",", (-1.0, 0)
    for d in DELIMITERS:
        rows = _rows(sample, d)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(r) == width for r in rows[1:]) / max(1, len(rows) - 1)
        score = (round(consistency, 1), width)
        if score > best_score:
            best, best_score = d, score
    return best


def sniff_text(path: Path, filename: str) -> TextDialect:
    head = read_head(path)
    if not head.strip():
        raise BadInput("the file is empty")
    encoding, text = _decode_head(head)
    if _looks_binary(text):
        raise BadInput(f"{filename!r} does not look like a text file (it contains binary data)")
    complete = len(head) < HEAD_BYTES
    sample = text if complete else text[: text.rfind("\n") + 1] or text
    preferred = "\t" if filename.lower().endswith(".tsv") else None
    delimiter = _pick_delimiter(sample, preferred)
    rows = _rows(sample, delimiter, limit=10**9)
    header = rows[0] if rows else []
    quoted_newlines = any("\n" in value or "\r" in value for row in rows for value in row)
    return TextDialect(encoding, delimiter, header, quoted_newlines)
