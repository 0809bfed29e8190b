"""The rules for a client's file name: display metadata only (files live under generated keys)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from automl.errors import BadInput, UnsupportedMedia

# Path separators and control characters (Unicode Cc) are refused. Format characters (Cf: the bidirectional
# overrides and isolates U+202A-202E, U+2066-2069, zero-width spaces, BOM) and line/paragraph separators are
# stripped: "invoice\u202egpj.csv" would show as "invoicevsc.jpg". Markup and quotes are allowed: the name is
# display metadata only (files live under generated keys) and every page escapes it (the UI acceptance
# uploads `x<b>ss<i>.csv` and expects it to be shown inert).
_FORBIDDEN = re.compile(r'[/\\\x00-\x1f\x7f-\x9f]')
_STRIPPED = frozenset(("Cf", "Zl", "Zp"))


def _strip_invisible(name: str) -> str:
    return "".join(ch for ch in name if unicodedata.category(ch) not in _STRIPPED)


def clean_filename(raw: str) -> str:
    """The client's filename if it is a plain file name; otherwise a BadInput saying what is wrong."""
    name = _strip_invisible(unicodedata.normalize("NFC", raw)).strip()
    if not name:
        raise BadInput("the uploaded file has no filename")
    if _FORBIDDEN.search(name) or name in (".", "..") or name.startswith(".."):
        raise BadInput(
            f"invalid filename {name[:100]!r}: it contains path separators or control characters;"
            " rename the file to a plain name like data.csv"
        )
    if len(name.encode()) > 255:
        raise BadInput("the filename is longer than 255 bytes; rename the file")
    return name


def check_suffix(filename: str, suffixes: tuple[str, ...]) -> None:
    suffix = Path(filename).suffix.lower()
    if suffix not in suffixes:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise UnsupportedMedia(
            f"unsupported file type ({shown}) for {filename!r}; upload one of: {', '.join(suffixes)}"
        )


@dataclass(frozen=True)
class UploadedFile:
    filename: str  # the client's name, validated; display metadata only
    size: int
    path: Path
    sha256: str
