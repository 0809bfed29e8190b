"""Formula neutralising: risky text gets a leading quote, numbers and plain text stay as they are."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from automl.serving.csvsafe import neutralise_frame, neutralise_table, neutralise_text

CELLS = ["=1+2", "+cmd", "-cmd", "@SUM(A1)", "\tx", "\rx", "-1.5", "+3", "1e-3", "-2E+5", "ok", "", None, "-", "a=b"]
WANT = ["'=1+2", "'+cmd", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "-1.5", "+3", "1e-3", "-2E+5", "ok", "", None, "'-",
        "a=b"]


def test_table_string_columns_and_header():
    table = pa.table({"=evil": CELLS, "n": pa.array(range(len(CELLS)), pa.int64()),
                      "big": pa.array(CELLS, pa.large_string())})
    out = neutralise_table(table)
    assert out.column_names == ["'=evil", "n", "big"]
    assert out.column(0).to_pylist() == WANT
    assert out.column(2).to_pylist() == WANT
    assert out.column(1).type == pa.int64()


def test_frame_and_single_cells():
    df = pd.DataFrame({"t": CELLS, "x": [-1.5] * len(CELLS)})
    out = neutralise_frame(df)
    assert [None if pd.isna(v) else v for v in out["t"].tolist()] == WANT
    assert out["x"].tolist() == [-1.5] * len(CELLS)
    assert neutralise_text("=A1") == "'=A1" and neutralise_text("-1.5") == "-1.5"
