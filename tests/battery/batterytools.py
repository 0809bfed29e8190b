"""Helpers for the load and fault battery: the load mix and the real server live in bench/load.py."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py: server(), prepare(), run_mix())

__all__ = ["load", "tmpfs"]


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """A small tmpfs at `path` (root only: skipped where mounting is not allowed), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def fill(folder: Path, *, leave_bytes: int = 0) -> Path:
    """Write a filler file in `folder` until the disk is full (or `leave_bytes` are left)."""
    filler = folder / "filler.bin"
    block = b"\0" * (1 << 16)
    with open(filler, "wb") as f:
        try:
            while not leave_bytes or free_bytes(folder) > leave_bytes:
                f.write(block)
                f.flush()
        except OSError:
            pass
    return filler
