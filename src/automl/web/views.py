"""Turns stored rows into what the templates show: form fields, problem-type hints, code examples."""
from __future__ import annotations

import json
import math
import pprint
from typing import Any

from automl.db.models import Dataset, TrainedModel
from automl.engine.task import DEFAULT_METRIC, MAX_INT_CLASSES, METRICS, PROBLEM_TYPES
from automl.ingest.jsonable import jsonable
from automl.ingest.sources import is_missing_marker
from automl.schemas.datasets import DatasetProfile

EXAMPLE_ROWS = 1


def profile(dataset: Dataset) -> DatasetProfile:
    """The stored profile read through its one schema (the API's), so a page shows the fields the API names."""
    return DatasetProfile.model_validate(dataset.profile)


def columns(dataset: Dataset) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in profile(dataset).columns]


def warnings(dataset: Dataset) -> list[dict[str, Any]]:
    return [w.model_dump(mode="json") for w in profile(dataset).warnings]


def problem_hint(col: dict[str, Any]) -> str:
    """The problem type a column would give as a target, from its profile (the engine decides for real)."""
    kind, n_unique = col["kind"], col["n_unique"]
    if kind == "boolean" or n_unique == 2:
        return "binary"
    if kind == "numeric":
        integer = col["dtype"].startswith(("int", "uint"))
        return "multiclass" if integer and n_unique <= MAX_INT_CLASSES else "regression"
    return "multiclass"


def default_target(cols: list[dict[str, Any]]) -> str | None:
    """The last usable column: by convention the label usually comes last."""
    usable = [c["name"] for c in cols if c["kind"] not in ("id", "constant", "text", "datetime")]
    return usable[-1] if usable else (cols[-1]["name"] if cols else None)


def metric_choices() -> dict[str, list[str]]:
    return {pt: [name for name, m in METRICS.items() if pt in m.problem_types] for pt in PROBLEM_TYPES}


def experiment_form(dataset: Dataset) -> dict[str, Any]:
    cols = columns(dataset)
    return {
        "columns": cols,
        "hints": {c["name"]: problem_hint(c) for c in cols},
        "target": default_target(cols),
        "problem_types": PROBLEM_TYPES,
        "metrics": metric_choices(),
        "default_metric": DEFAULT_METRIC,
        "excluded_kinds": ("id", "constant"),
    }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plot_data(model: TrainedModel) -> dict[str, Any]:
    """JSON-safe for the browser (JSON.parse rejects NaN and infinities)."""
    return jsonable({"plots": model.plots or {}, "feature_importance": model.feature_importance or []})  # type: ignore[no-any-return]


def is_missing(value: Any) -> bool:
    """None, NaN or a marker the upload and the predict endpoint read as missing ("nan", "NA", "None", ...)."""
    return _clean(value) is None or is_missing_marker(value)


def example_row(model: TrainedModel, dataset: Dataset | None) -> dict[str, Any]:
    """One plausible input row: a category or a sample value from the profile for each input column; None
    (an empty form field, null in the code examples) where the model and the profile know no value."""
    samples = {c["name"]: c["samples"] for c in (columns(dataset) if dataset else [])}
    row: dict[str, Any] = {}
    for field in model.input_schema or []:
        name = field["name"]
        known = [v for v in (field.get("categories") or []) + samples.get(name, []) if not is_missing(v)]
        row[name] = known[0] if known else None
    return row


def _boolean_values(col: dict[str, Any] | None) -> list[str]:
    """A boolean column's own spellings (Yes/No, 0/1, …) from the profile, so the form offers what the data has."""
    top = col["stats"].get("top_values", []) if col else []
    values = [str(t["value"]) for t in top if not is_missing(t["value"])]
    return values if len(values) == 2 else ["true", "false"]


def form_fields(model: TrainedModel, example: dict[str, Any], dataset: Dataset | None) -> list[dict[str, Any]]:
    """One field per input column: a select for categories and booleans, otherwise a text input."""
    profiled = {c["name"]: c for c in (columns(dataset) if dataset else [])}
    fields = []
    for field in model.input_schema or []:
        kind = field.get("kind") or "text"
        cats = [str(c) for c in field.get("categories") or [] if not is_missing(c)]
        if not cats and kind == "boolean":
            cats = _boolean_values(profiled.get(field["name"]))
        value = example.get(field["name"])
        fields.append(
            {
                "name": field["name"],
                "kind": kind,
                "dtype": field.get("dtype") or "",
                "required": bool(field.get("required")),
                "options": cats,
                "value": "" if is_missing(value) else str(value),  # a missing value is an empty field
            }
        )
    return fields


def code_examples(base_url: str, model_id: int, row: dict[str, Any], *, keys_required: bool) -> dict[str, str]:
    url = f"{base_url.rstrip('/')}/api/v1/predict/{model_id}"
    body = {"data": [row], "return_probabilities": True}
    auth_curl = ' \\\n  -H "Authorization: Bearer $AUTOML_API_KEY"' if keys_required else ""
    auth_py = ', "Authorization": f"Bearer {os.environ[\'AUTOML_API_KEY\']}"' if keys_required else ""
    curl = (
        f"curl -s -X POST {url} \\\n  -H 'Content-Type: application/json'{auth_curl} \\\n"
        f"  -d '{json.dumps(body).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'"
    )
    python = (
        ("import os\n" if keys_required else "")
        + "import requests\n\n"
        + f"rows = {pprint.pformat(body['data'], sort_dicts=False)}\n"
        + f'resp = requests.post(\n    "{url}",\n    json={{"data": rows, "return_probabilities": True}},\n'
        + f'    headers={{"Content-Type": "application/json"{auth_py}}},\n    timeout=30,\n)\n'
        + "resp.raise_for_status()\nprint(resp.json()[\"predictions\"])\n"
    )
    batch = f"curl -s -X POST {url}/batch{auth_curl} \\\n  -F 'file=@to_score.csv'"
    return {"curl": curl, "python": python, "batch": batch}
