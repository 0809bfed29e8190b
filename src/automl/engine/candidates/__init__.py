"""Candidate families, one module each; importing this package imports every module in it, which
registers every family in REGISTRY (a new family is one new file)."""

import importlib
import pkgutil

from automl.engine.candidates.base import REGISTRY, Candidate, Params, TaskContext, compile_fitted, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Candidate", "Params", "TaskContext", "compile_fitted", "register"]
