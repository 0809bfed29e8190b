"""The compiled form is only used after it reproduced the regular path, row by row and as a batch, on rows
made from the model's input schema (its categories, numbers of several magnitudes, nulls, unseen values)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.fastpath.members import CompileModel, FastModel
from automl.engine.fastpath.transforms import Unsupported

log = logging.getLogger(__name__)
RTOL, ATOL = 1e-6, 1e-8
_WORDS = np.array(["data", "model", "price", "good", "bad", "the", "of", "new", "red", "fast"])


def _schema_values(col: dict[str, Any], n: int, rng: np.random.Generator) -> list[Any]:
    kind, cats = col.get("kind"), col.get("categories") or []
    if kind == "numeric":
        return list(rng.normal(size=n) * rng.choice([1.0, 10.0, 1000.0], size=n))
    if kind == "boolean":  # the levels it learned at fit (words), else bools
        return list(rng.choice(col.get("levels") or [True, False], size=n))
    if kind == "datetime":
        return [str(np.datetime64("2000-01-01") + int(d)) for d in rng.integers(0, 365 * 30, size=n)]
    if kind == "text":
        return [" ".join(rng.choice(_WORDS, size=6)) for _ in range(n)]
    return list(rng.choice(cats, size=n)) if cats else [f"level_{i % 3}" for i in range(n)]


def synthetic_rows(input_schema: Sequence[dict[str, Any]], n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Rows made from the model's input schema alone, about one value in eight null: enough to exercise
    every compiled step without keeping any training rows in the artifact."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {}
    for col in input_schema:
        values = _schema_values(col, n, rng)
        for i in rng.choice(n, size=max(1, n // 8), replace=False):
            values[i] = None
        cols[col["name"]] = values
    return pd.DataFrame(cols)


def probe_rows(sample: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Sample rows plus a row of nulls and a row with every text column set to an unseen value."""
    nulls = pd.DataFrame([{c: None for c in sample.columns}])
    unseen = sample.head(1).copy()
    for col, kind in kinds.items():
        if kind in ("categorical", "text") and col in unseen:
            unseen[col] = unseen[col].astype(object)
            unseen.loc[:, col] = "never seen in training"
    return pd.concat([sample.astype(object), nulls, unseen.astype(object)], ignore_index=True)


def _agrees(fast: FastModel, rows: pd.DataFrame, expected: np.ndarray) -> bool:
    batch = fast.predict_raw(rows)
    if not np.allclose(batch, expected, rtol=RTOL, atol=ATOL):
        log.warning("fast path disagrees with the regular path on a batch (max diff %.3g); not used",
                    float(np.nanmax(np.abs(batch - expected))))
        return False
    for i in range(len(rows)):
        if not np.allclose(fast.predict_raw(rows.iloc[[i]]), expected[i:i + 1], rtol=RTOL, atol=ATOL):
            log.warning("fast path disagrees with the regular path on probe row %d alone; not used", i)
            return False
    return True


def compile_verified(
    kinds: dict[str, str], members: Sequence[tuple[Pipeline, float]], n_classes: int, *,
    regular: Callable[[pd.DataFrame], np.ndarray], sample: pd.DataFrame, compile_model: CompileModel,
) -> FastModel | None:
    """A FastModel that reproduced `regular` on `sample` (raw rows), row by row and as one batch; else None."""
    try:
        fast = FastModel(kinds, members, n_classes, compile_model=compile_model)
        rows = probe_rows(sample, kinds)
        return fast if _agrees(fast, rows, regular(rows)) else None
    except Unsupported as exc:
        log.info("fast path not available: %s", exc)
    except Exception:  # a compile bug must never break training or serving: keep the regular path
        log.exception("fast path compilation failed; not used")
    return None
