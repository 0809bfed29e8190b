"""Reading real files of every supported format into normalised Arrow tables."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from automl.errors import BadInput
from automl.ingest import read_table, sources
from automl.ingest.detect import sniff_text

DATA = Path(__file__).parents[2] / "data"


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_delimiter_and_encoding_are_detected(tmp_path: Path, delimiter: str, encoding: str) -> None:
    text = delimiter.join(["cidade", "valor"]) + "\n" + "\n".join(
        delimiter.join([city, str(i)]) for i, city in enumerate(["São Paulo", "Brasília", "Porto"] * 5)
    ) + "\n"
    path = write(tmp_path, "x.csv", text.encode(encoding))
    dialect = sniff_text(path, "x.csv")
    assert dialect.delimiter == delimiter
    table = read_table(path, "x.csv")
    assert table.column_names == ["cidade", "valor"]
    assert table["cidade"].to_pylist()[:2] == ["São Paulo", "Brasília"]
    assert table["valor"].type == pa.int64()


def test_decimal_commas_thousand_separators_and_missing_markers(tmp_path: Path) -> None:
    csv = (
        "price;amount;big;note\n"
        "1.234,50;12,5;1 000 000;NA\n"
        "2,25;null;2 500;x\n"
        "1.000.000,00;;3;N/A\n"
        "3;7,75;NA;y\n"
    )
    table = read_table(write(tmp_path, "p.csv", csv.encode()), "p.csv")
    assert table["price"].to_pylist() == [1234.5, 2.25, 1_000_000.0, 3.0]
    assert table["amount"].to_pylist() == [12.5, None, None, 7.75]
    assert table["big"].to_pylist() == [1_000_000, 2500, 3, None]
    assert table["note"].to_pylist() == [None, "x", None, "y"]


def test_comma_thousands_in_a_comma_separated_file(tmp_path: Path) -> None:
    csv = 'name,salary\nann,"1,200"\nbob,"12,500.50"\ncid,"1,000,000"\n'
    table = read_table(write(tmp_path, "s.csv", csv.encode()), "s.csv")
    assert table["salary"].to_pylist() == [1200.0, 12500.5, 1_000_000.0]


def test_date_strings_become_timestamps(tmp_path: Path) -> None:
    csv = "when,x\n31/01/2024,1\n15/02/2024,2\n01/03/2024,3\n"
    table = read_table(write(tmp_path, "d.csv", csv.encode()), "d.csv")
    assert pa.types.is_timestamp(table["when"].type)
    assert str(table["when"][0].as_py().date()) == "2024-01-31"


@pytest.fixture(params=[16 << 20, 64 << 10], ids=["one-slice", "many-slices"])
def slice_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sources, "SLICE_BYTES", request.param)
    return int(request.param)


def test_types_guessed_from_the_first_block_are_widened_later(tmp_path: Path, slice_bytes: int) -> None:
    # 200k rows: the streaming reader guesses types from its first block, then meets a float and a word.
    n = 200_000
    df = pd.DataFrame({"i": range(n), "late_null": [None] * (n - 1) + ["text"], "x": [1] * (n - 1) + [2.5]})
    path = write(tmp_path, "w.csv", df.to_csv(index=False).encode())
    table = read_table(path, "w.csv")
    assert table.num_rows == n
    assert table["x"].type == pa.float64() and table["x"][n - 1].as_py() == 2.5
    assert table["late_null"][n - 1].as_py() == "text"


def test_number_pattern_broken_after_the_first_batch_keeps_text(tmp_path: Path, slice_bytes: int) -> None:
    n = 200_000
    values = ["1,5"] * (n - 1) + ["unknown"]
    df = pd.DataFrame({"v": values, "k": range(n)})
    table = read_table(write(tmp_path, "v.csv", df.to_csv(index=False, sep=";").encode()), "v.csv")
    assert table["v"].type == pa.string()
    assert table["v"][n - 1].as_py() == "unknown"


def test_quoted_newlines_after_the_sniffed_sample(tmp_path: Path, slice_bytes: int) -> None:
    rows = [f"{i},plain" for i in range(20000)] + ['20000,"two\nlines"'] + [f"{i},x" for i in range(20001, 30000)]
    table = read_table(write(tmp_path, "q.csv", ("id,text\n" + "\n".join(rows) + "\n").encode()), "q.csv")
    assert table.num_rows == 30000
    assert table["text"][20000].as_py() == "two\nlines"
    assert table["id"].to_pylist() == list(range(30000))


def test_slices_keep_every_row_in_order(tmp_path: Path, slice_bytes: int) -> None:
    df = pd.DataFrame({"k": range(100_000), "v": [f"value {i}" for i in range(100_000)]})
    table = read_table(write(tmp_path, "o.csv", df.to_csv(index=False).encode("utf-8-sig")), "o.csv")
    assert table["k"].to_pylist() == list(range(100_000))
    assert table["v"][99_999].as_py() == "value 99999"


def test_xlsx_xls_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "when": ["2024-01-01", "2024-01-02", "2024-01-03"]})
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    table = read_table(write(tmp_path, "t.xlsx", buf.getvalue()), "t.xlsx")
    assert table.column_names == ["a", "b", "when"]
    assert table["a"].to_pylist() == [1, 2, 3]
    assert table["b"].to_pylist() == ["x", "y", None]
    assert pa.types.is_timestamp(table["when"].type)

    xls = read_table(DATA / "small.xls", "small.xls")
    assert xls.column_names == ["name", "score", "passed"]
    assert xls["score"].to_pylist() == [7.5, 6.0, 9.25]

    path = tmp_path / "t.parquet"
    indexed = df.assign(a=[30, 10, 20]).set_index("a")
    pq.write_table(pa.Table.from_pandas(indexed), path)  # a named pandas index, stored as a column
    table = read_table(path, "t.parquet")
    assert set(table.column_names) == {"a", "b", "when"}
    pq.write_table(pa.Table.from_pandas(df.iloc[[2, 0, 1]]), path)  # an unnamed one: __index_level_0__
    assert read_table(path, "t.parquet").column_names == ["a", "b", "when"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.csv", b"", "empty"),
        ("h.csv", b"a,b,c\n", "no data rows"),
        ("g.csv", bytes(range(256)) * 16, "binary"),
        ("p.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "PNG"),
        ("d.csv", b"a,a,b\n1,2,3\n", "duplicate column names"),
        ("b.csv", b"a,,b\n1,2,3\n", "blank name"),
        ("one.csv", b"a\n1\n2\n", "single column"),
        ("r.csv", b"a,b\n1,2,3,4\n5\n", "ragged"),
        ("f.xlsx", b"this is not a workbook", "not a valid XLSX"),
        ("f.parquet", b"a,b\n1,2\n", "not a valid PARQUET"),
    ],
)
def test_unreadable_input_is_refused_with_a_reason(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_table(write(tmp_path, name, content), name)


def test_trailing_delimiter_column_is_dropped(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "t.csv", b"a,b,\n1,2,\n3,4,\n"), "t.csv")
    assert table.column_names == ["a", "b"]


def test_password_protected_workbook(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="password"):
        read_table(DATA / "password.xlsx", "password.xlsx")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("a,b\n1,é€\n2,x\n", "cp1252"),  # a few accented bytes: Western, not a CJK code page
        ("a;b\n1;é\n2;ü\n", "utf-16"),  # with its BOM
        ("a,b\n" + "".join(f"{i},日本語テキスト\n" for i in range(30)), "shift_jis"),
    ],
)
def test_other_encodings(tmp_path: Path, text: str, encoding: str) -> None:
    table = read_table(write(tmp_path, "e.csv", text.encode(encoding)), "e.csv")
    assert table["b"][0].as_py() == text.splitlines()[1].split(text[1])[1]


def test_latin1_accents_only_after_an_ascii_head(tmp_path: Path, slice_bytes: int) -> None:
    rows = [f"{i},plain" for i in range(20000)] + ["20000,São Paulo"]
    table = read_table(write(tmp_path, "l.csv", ("id,city\n" + "\n".join(rows) + "\n").encode("latin-1")), "l.csv")
    assert table["city"][20000].as_py() == "São Paulo"


# -- limits known before allocation, and the parsing sandbox (issue 13, item 1) ---------------------------
def test_the_limits_defaults_are_the_settings_defaults() -> None:
    from automl.config import Settings
    from automl.ingest.limits import ParseLimits
    from automl.services.datasets import parse_limits

    assert parse_limits(Settings(_env_file=None)) == ParseLimits()  # type: ignore[call-arg]


def test_rows_times_columns_over_the_limit_is_refused_while_streaming(tmp_path: Path) -> None:
    from automl.errors import TooLarge
    from automl.ingest.convert import TableSink, convert
    from automl.ingest.limits import ParseLimits

    path = write(tmp_path, "x.csv", b"a,b,c\n" + b"1,2,3\n" * 1000)
    convert(path, "x.csv", TableSink, limits=ParseLimits(max_cells=3000))
    with pytest.raises(TooLarge, match="AUTOML_MAX_CELLS"):
        convert(path, "x.csv", TableSink, limits=ParseLimits(max_cells=2999))
    with pytest.raises(TooLarge, match="columns"):
        convert(path, "x.csv", TableSink, limits=ParseLimits(max_columns=2))


def test_a_reader_that_aborts_runs_out_of_memory_or_hangs_is_a_domain_error() -> None:
    import os
    import time

    from automl.errors import TooLarge, Unprocessable
    from automl.ingest import sandbox
    from automl.ingest.limits import ParseLimits

    limits = ParseLimits(memory_mb=1024, timeout_s=2)
    assert sandbox.run(sum, [1, 2, 3], limits=limits) == 6
    with pytest.raises(Unprocessable, match="SIGABRT"):
        sandbox.run(os.abort, limits=limits)
    with pytest.raises(TooLarge, match="1,024 MB"):
        sandbox.run(bytearray, 4 << 30, limits=limits)
    t0 = time.monotonic()
    with pytest.raises(Unprocessable, match="2 s"):
        sandbox.run(time.sleep, 60, limits=limits)
    assert time.monotonic() - t0 < 10
    with pytest.raises(BadInput, match="empty"):
        sandbox.run(sniff_text, Path(os.devnull), "x.csv", limits=limits)
