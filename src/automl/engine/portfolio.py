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

from automl.engine.candidates import REGISTRY, Params, TaskContext

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")


KINDS = ("classification", "regression")


def kind_of(ctx: TaskContext) -> str:
    return "classification" if ctx.is_classification else "regression"


@cache
def portfolio(kind: str) -> tuple[tuple[str, Params], ...]:
    """(family, params) in the order to try for `kind` (KINDS); families this build lacks are left out."""
    entries = json.loads(PORTFOLIO_FILE.read_text())["portfolios"][kind]
    return tuple((e["family"], dict(e["params"])) for e in entries if e["family"] in REGISTRY)
