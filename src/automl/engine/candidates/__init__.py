"""Candidate families; importing this package registers every family in REGISTRY."""

from automl.engine.candidates import catboost, forests, lightgbm, linear, sklearn_boosting, xgboost  # noqa: F401
from automl.engine.candidates.base import REGISTRY, Candidate, Params, TaskContext, register

__all__ = ["REGISTRY", "Candidate", "Params", "TaskContext", "register"]
