"""Client filenames: display metadata, never a path."""
from __future__ import annotations

import pytest

from automl.errors import BadInput, UnsupportedMedia
from automl.ingest.detect import SUFFIXES
from automl.ingest.filenames import check_suffix, clean_filename

BAD_NAMES = ["../../etc/passwd", "..\\win.csv", "a/b.csv", "a\x00.csv", "tab\there.csv", "..", " "]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_paths_and_control_characters_are_refused(name: str) -> None:
    with pytest.raises(BadInput):
        clean_filename(name)


@pytest.mark.parametrize("name", ["data.csv", "São Paulo 2024.xlsx", "x<b>ss<i>.csv", "a'b\".tsv"])
def test_plain_names_are_kept_verbatim(name: str) -> None:
    assert clean_filename(name) == name


def test_suffixes() -> None:
    check_suffix("A.CSV", SUFFIXES)
    with pytest.raises(UnsupportedMedia, match="'.exe'"):
        check_suffix("doc.exe", SUFFIXES)
    with pytest.raises(UnsupportedMedia, match="no extension"):
        check_suffix("passwd", SUFFIXES)
    with pytest.raises(BadInput, match="255"):
        clean_filename("x" * 300 + ".csv")


@pytest.mark.parametrize(("raw", "shown"), [
    ("invoice\u202egpj.csv", "invoicegpj.csv"),  # right-to-left override: would show as "invoicevsc.jpg"
    ("\u2066a\u2067b\u2068c\u2069.csv", "abc.csv"),  # bidirectional isolates
    ("\u202ad\u202be\u202cf\u202d.csv", "def.csv"),  # embeddings and overrides
    ("zero\u200bwidth\ufeff.csv", "zerowidth.csv"),  # zero-width space, BOM
    ("line\u2028para\u2029.csv", "linepara.csv"),
])
def test_bidirectional_and_invisible_characters_are_stripped(raw: str, shown: str) -> None:
    assert clean_filename(raw) == shown


def test_c1_controls_are_refused_and_a_name_of_only_invisible_characters_is_empty() -> None:
    with pytest.raises(BadInput, match="control"):
        clean_filename("a\x85b.csv")
    with pytest.raises(BadInput, match="no filename"):
        clean_filename("\u202e\u2066")
