"""The code stays readable in an afternoon: small modules, short functions, tests that stand alone."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "automl"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "migrations" not in p.parts]  # revisions are generated


def test_modules_and_functions_are_small() -> None:
    long_modules, long_functions = [], []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) >= MAX_MODULE_LINES:
            long_modules.append(str(path.relative_to(ROOT)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.name} ({length} lines)")
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def test_no_test_imports_another_test_module() -> None:
    test_modules = {p.stem for p in (ROOT / "tests").rglob("test_*.py")}
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[-1] in test_modules]
    assert not offenders, offenders
