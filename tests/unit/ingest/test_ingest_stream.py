"""Streaming a file for scoring with the upload's reader: the same numbers as `read_table`, text kept as written."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from automl.errors import BadInput, UnsupportedMedia
from automl.ingest import read_table, sources
from automl.ingest.stream import column_names, read_batches, stage


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return path


def streamed(path: Path, filename: str, numeric: list[str]) -> pa.Table:
    return pa.Table.from_batches(list(read_batches(path, filename, numeric=numeric)))


def test_numbers_match_the_upload_and_text_stays_as_written(tmp_path: Path) -> None:
    csv = (
        " price ;amount;big;zip;note\n"
        "1.234,50;12,5;1 000 000;007;NA\n"
        "2,25;null;2 500;010;x\n"
        "1.000.000,00;;3;123;N/A\n"
        "3;7,75;NA;042;=1+2\n"
    )
    path = write(tmp_path, csv.encode())
    uploaded = read_table(path, "p.csv")
    table = streamed(path, "p.csv", ["price", "amount", "big"])
    assert table.column_names == ["price", "amount", "big", "zip", "note"]  # the upload's trimmed header
    for name in ("price", "amount", "big"):
        assert table[name].type == pa.float64()
        assert table[name].to_pylist() == [None if v is None else float(v) for v in uploaded[name].to_pylist()]
    assert table["zip"].to_pylist() == ["007", "010", "123", "042"]  # the upload would read 7, 10, ...
    assert table["note"].to_pylist() == [None, "x", None, "=1+2"]  # the same missing markers


def test_words_in_a_numeric_column_are_missing(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1.5,x\nabc,y\n,z\n 2 ,w\n")
    assert streamed(path, "w.csv", ["a"])["a"].to_pylist() == [1.5, None, None, 2.0]


def test_the_convention_is_settled_once_for_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "SLICE_BYTES", 64 << 10)  # many batches
    n = 30_000
    values = ["7"] * n + ["1.234,5", "2,5"]  # whole numbers first, decimal commas only at the end
    path = write(tmp_path, ("v;k\n" + "".join(f"{v};k\n" for v in values)).encode())
    column = streamed(path, "c.csv", ["v"])["v"].to_pylist()
    assert len(column) == n + 2
    assert column[0] == 7.0 and column[-2:] == [1234.5, 2.5]


def test_a_read_that_starts_over_skips_the_rows_already_given(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # an all-ASCII head, then a cp1252 byte slices later: the reader starts over with the other encoding
    monkeypatch.setattr(sources, "SLICE_BYTES", 64 << 10)
    n = 20_000
    body = b"".join(b"%d,plain\n" % i for i in range(n)) + "1,café\n".encode("cp1252")
    path = write(tmp_path, b"x,note\n" + body)
    table = streamed(path, "e.csv", ["x"])
    assert table.num_rows == n + 1
    assert table["x"].to_pylist()[:3] == [0.0, 1.0, 2.0] and table["note"][-1].as_py() == "café"
    assert table["x"].to_pylist() == read_table(path, "e.csv")["x"].cast(pa.float64()).to_pylist()


def test_parquet_and_excel_numbers_are_float64(tmp_path: Path) -> None:
    df = pd.DataFrame({"n": [1, 2, 3], "f": [0.5, None, 2.0], "c": ["a", "b", "NA"]})
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    path = write(tmp_path, buf.getvalue())
    table = streamed(path, "d.parquet", ["n", "f"])
    assert table["n"].to_pylist() == [1.0, 2.0, 3.0] and table["f"].to_pylist() == [0.5, None, 2.0]
    assert column_names(path, "d.parquet") == ["n", "f", "c"]
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    path = write(tmp_path, buf.getvalue())
    table = streamed(path, "d.xlsx", ["n", "f"])
    assert table["n"].type == pa.float64() and table["n"].to_pylist() == [1.0, 2.0, 3.0]
    assert table["c"].to_pylist() == ["a", "b", None]
    assert column_names(path, "d.xlsx") == ["n", "f", "c"]


def test_column_names_reads_the_header_as_the_upload_does(tmp_path: Path) -> None:
    path = write(tmp_path, " a ;b;c\n1;2;3\n".encode("utf-8-sig"))
    assert column_names(path, "h.csv") == ["a", "b", "c"]
    with pytest.raises(BadInput, match="empty"):
        column_names(write(tmp_path, b""), "e.csv")
    with pytest.raises(UnsupportedMedia):
        column_names(write(tmp_path, b"MZ"), "a.exe")


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1,2\n" + b'"unterminated,1\n' * 3)
    with pytest.raises(BadInput):
        list(read_batches(path, "bad.csv", numeric=["a"]))
    with pytest.raises(BadInput, match="duplicate column names"):
        list(read_batches(write(tmp_path, b"a,a\n1,2\n"), "d.csv"))
    assert list(read_batches(write(tmp_path, b"a,b\n"), "h.csv")) == []


def test_stage_keeps_the_first_batchs_types_when_a_later_batch_differs(tmp_path: Path) -> None:
    """A text column empty for the first 300,000 rows reads as null there, then as text: the staged file
    casts later batches to the first schema (a batch-scoring acceptance run of 1M rows failed on this)."""
    import pyarrow.parquet as pq

    src = tmp_path / "s.csv"
    with src.open("w") as f:
        f.write("a,b,c\n")
        f.writelines(f"{i},{i * 0.5},{'' if i < 300_000 else f'x{i}'}\n" for i in range(400_000))
    assert stage(src, "s.csv", tmp_path / "o.parquet", numeric=["a", "b"]) == 400_000
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.num_rows == 400_000 and table.column("c")[399_999].as_py() == "x399999"
