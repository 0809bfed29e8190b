"""Input validation on plain dicts: missing columns and wrong types are named; nulls pass through."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from automl.serving.schema import InputError, InputValidator

SCHEMA = [
    {"name": "age", "kind": "numeric", "required": True},
    {"name": "city", "kind": "categorical", "required": True},
    {"name": "member", "kind": "boolean", "required": True},
    {"name": "joined", "kind": "datetime", "required": True},
    {"name": "score", "kind": "numeric", "required": False},
]


def test_builds_a_typed_frame_and_ignores_extra_columns():
    v = InputValidator(SCHEMA)
    frame = v.frame([
        {"age": 30, "city": "Paris", "member": True, "joined": "2020-01-02", "score": "2.5", "extra": {"x": 1}},
        {"age": None, "city": None, "member": "no", "joined": None},
    ])
    assert list(frame.columns) == ["age", "city", "member", "joined", "score"]
    assert frame["age"].dtype == "float64" and frame["age"][0] == 30.0 and math.isnan(frame["age"][1])
    assert frame["score"][0] == 2.5 and math.isnan(frame["score"][1])  # optional column missing -> null
    assert frame["city"][0] == "Paris" and pd.isna(frame["city"][1])


@pytest.mark.parametrize(("row", "column", "words"), [
    ({"city": "a", "member": 1, "joined": "x"}, "age", "missing column 'age'"),
    ({"age": "old", "city": "a", "member": 1, "joined": "x"}, "age", "expected a number"),
    ({"age": [1], "city": "a", "member": 1, "joined": "x"}, "age", "expected a number"),
    ({"age": 1, "city": {"a": 1}, "member": 1, "joined": "x"}, "city", "expected a string or number"),
    ({"age": 1, "city": "a", "member": "perhaps", "joined": "x"}, "member", "expected a boolean"),
])
def test_problems_name_the_column(row, column, words):
    with pytest.raises(InputError) as exc:
        InputValidator(SCHEMA).frame([row])
    assert exc.value.problems[0]["column"] == column
    assert words in exc.value.problems[0]["msg"]


@pytest.mark.parametrize("rows", [[], None, "x", [1], [[1, 2]]])
def test_rows_must_be_a_list_of_objects(rows):
    with pytest.raises(InputError):
        InputValidator(SCHEMA).frame(rows)


@pytest.mark.parametrize("marker", ["NA", "?", "n/a", " null ", ""])
def test_the_uploads_missing_markers_read_as_missing_in_every_kind(marker):
    frame = InputValidator(SCHEMA).frame([{"age": marker, "city": marker, "member": marker, "joined": "x"}])
    assert math.isnan(frame["age"][0])
    assert pd.isna(frame["city"][0]) and pd.isna(frame["member"][0])


def test_words_read_as_missing_only_where_training_read_them_so():
    lenient = [{**SCHEMA[0], "words_as_missing": True}, *SCHEMA[1:]]
    row = {"age": "unknown", "city": "a", "member": 1, "joined": "x"}
    assert math.isnan(InputValidator(lenient).frame([row])["age"][0])
    with pytest.raises(InputError):
        InputValidator(SCHEMA).frame([row])
    with pytest.raises(InputError):  # lenient about words, not about structures
        InputValidator(lenient).frame([{**row, "age": [1]}])


def test_a_boolean_column_trained_on_bools_reads_the_uploads_words_as_bools():
    frame = InputValidator(SCHEMA).frame([{"age": 1, "city": "a", "member": m, "joined": "x"}
                                          for m in ("no", " Sim ", "off", True, 0, "1")])
    assert frame["member"].tolist() == [False, True, False, True, 0, True]


def test_a_boolean_column_trained_on_words_takes_its_levels_and_json_booleans():
    schema = [{"name": "member", "kind": "boolean", "levels": ["não", "sim"], "required": True}]
    rows = [{"member": v} for v in ("sim", "não", " SIM", True, False, 1, 0, "yes", "off", None, "NA")]
    got = InputValidator(schema).frame(rows)["member"].tolist()
    assert got[:9] == ["sim", "não", "sim", "sim", "não", "sim", "não", "sim", "não"] and pd.isna(got[9:]).all()
    for bad in ("perhaps", 2, [True]):
        with pytest.raises(InputError) as exc:
            InputValidator(schema).frame([{"member": bad}])
        assert "expected one of 'não', 'sim' or true/false" in exc.value.problems[0]["msg"]


def test_json_booleans_need_levels_the_vocabulary_knows():
    schema = [{"name": "member", "kind": "boolean", "levels": ["a", "b"], "required": True}]
    assert InputValidator(schema).frame([{"member": "B"}])["member"].tolist() == ["b"]
    with pytest.raises(InputError, match="expected one of 'a', 'b', got True"):
        InputValidator(schema).frame([{"member": True}])
