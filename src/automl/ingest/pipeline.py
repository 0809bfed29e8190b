"""An uploaded file, once: stream it into the stored Parquet copy, then profile that copy column by column;
for an upload, all of it in the parsing sandbox (automl.ingest.sandbox), under the file's limits."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from automl.errors import BadInput, DomainError
from automl.ingest import sandbox
from automl.ingest.convert import ParquetSink, convert
from automl.ingest.growing import UploadProgress
from automl.ingest.limits import ParseLimits
from automl.ingest.memory import limit_arenas, release_memory
from automl.ingest.profile import profile_parquet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    n_rows: int
    n_cols: int
    source_format: str
    profile: dict[str, Any]  # {"columns": [...], "warnings": [...]}


@cache
def tune_allocators() -> None:
    """Process-wide, once. Arrow's default jemalloc pool is markedly slower on the first large read in a
    process (page faults on fresh arenas): the system allocator read a cold 150 MB CSV about twice as fast
    here and hands freed memory back to the OS. glibc arenas are capped at one per core (see memory.py)."""
    pa.set_memory_pool(pa.system_memory_pool())
    limit_arenas(os.cpu_count() or 1)


def source_format(filename: str) -> str:
    return Path(filename).suffix.lower().lstrip(".")


def ingest_upload(path: Path, progress: UploadProgress, dest: Path, limits: ParseLimits | None = None) -> Ingested:
    """`ingest_file` on an upload still arriving at `path`, in the parsing sandbox (run it in a thread while the
    upload is received). Raises UploadAborted when the upload fails; the upload's own error is the one to
    report. On any failure `dest` is gone."""
    limits = limits or ParseLimits()
    try:
        return sandbox.run(_ingest_arriving, path, progress, dest, limits, limits=limits, progress=progress)
    except BaseException:
        dest.unlink(missing_ok=True)  # the child may have died half-way through writing it
        raise


def _ingest_arriving(path: Path, progress: UploadProgress, dest: Path, limits: ParseLimits) -> Ingested:
    return ingest_file(path, progress.wait_started(), dest, progress=progress, limits=limits)


def ingest_file(path: Path, filename: str, dest: Path, *, progress: UploadProgress | None = None,
                limits: ParseLimits | None = None) -> Ingested:
    """Read `path` (named `filename` by the client), keep it as Parquet at `dest`, return its profile.

    Raises BadInput/UnsupportedMedia/TooLarge for anything unreadable or over `limits`; `dest` is removed on
    any failure. In this process: for an untrusted file use `ingest_upload` (or automl.ingest.sandbox).
    """
    tune_allocators()
    try:
        t0 = time.perf_counter()
        _, n_rows, n_cols = convert(path, filename, lambda: ParquetSink(dest), progress=progress,
                                    limits=limits or ParseLimits())
        t1 = time.perf_counter()
        release_memory()
        profile = profile_parquet(dest)
        log.info("ingested %d rows x %d cols: converted in %.2fs, profiled in %.2fs", n_rows, n_cols,
                 t1 - t0, time.perf_counter() - t1)
    except (DomainError, MemoryError):
        dest.unlink(missing_ok=True)
        raise
    except (pa.ArrowException, ValueError, UnicodeError) as exc:
        dest.unlink(missing_ok=True)
        raise BadInput(f"the file could not be read: {exc}") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return Ingested(n_rows, n_cols, source_format(filename), profile)
