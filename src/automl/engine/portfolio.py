"""The zero-shot portfolio: configurations the search tries in order before it tunes anything.

Learned by bench/portfolio.py on a meta-benchmark (every configuration of a pool scored by CV on many real
tables, then greedy selection of the configuration that most lowers the average best rank, as TabRepo and
AutoGluon's zero-shot portfolios do); portfolio.json beside this module is that script's output. Classification
and regression have a portfolio each: a forest's best `max_features`, for one, differs between them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from automl.engine.candidates import REGISTRY, Params, TaskContext

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")


KINDS = ("classification", "regression")


def kind_of(ctx: TaskContext) -> str:
    return "classification" if ctx.is_classification else "regression"


@cache
def _learned() -> dict[str, Any]:
    return json.loads(PORTFOLIO_FILE.read_text())  # type: ignore[no-any-return]


def portfolio(kind: str) -> tuple[tuple[str, Params], ...]:
    """(family, params) in the order to try for `kind` (KINDS); families this build lacks are left out."""
    return tuple((e["family"], dict(e["params"])) for e in _learned()["portfolios"][kind] if e["family"] in REGISTRY)


@cache
def _config_costs(kind: str) -> dict[str, float]:
    return {config_key(e["family"], e["params"]): e["cost"] for e in _learned()["portfolios"][kind]}


def config_key(family: str, params: Params) -> str:
    return f"{family} {json.dumps(params, sort_keys=True)}"


def relative_cost(kind: str, family: str, params: Params | None) -> float:
    """Fit time relative to LightGBM's on the same table, measured on the meta-benchmark: a portfolio
    configuration's own, else (`params` None: a tuning trial) its family's median, 1 for a family it lacks.
    The search times one candidate and expects the others' times from these (300 trees of a forest: ~5 times
    LightGBM's)."""
    own = None if params is None else _config_costs(kind).get(config_key(family, params))
    return own if own is not None else float(_learned()["family_costs"][kind].get(family, 1.0))
