"""Fixtures: a real S3 API on loopback, `moto_server` (moto's server mode) as a subprocess on a free port, one
per module; a fresh bucket per test. Credentials reach s3fs the standard way (AWS_* variables, fake ones here),
the endpoint through AUTOML_STORAGE_OPTIONS (`{"endpoint_url": ...}`), as docs/storage.md describes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from s3tools import AWS_ENV, S3, free_port

from automl.config import Settings
from automl.storage import Storage

# Fake credentials for the whole session, set when this file is collected (before any test runs): job children
# and the parsing sandbox fork from one multiprocessing forkserver per process, which keeps the environment it
# started with, possibly in an earlier test; in a deployment the variables are there when the process starts.
os.environ.update(AWS_ENV)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield S3(endpoint)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def s3_settings(s3: S3, tmp_path: Path) -> Settings:
    """Settings whose store is a fresh bucket under a prefix; the data dir keeps only scratch, cache, database."""
    bucket = s3.new_bucket()
    return Settings(data_dir=tmp_path / "data", storage_url=f"s3://{bucket}/team-a",  # type: ignore[call-arg]
                    storage_options={"endpoint_url": s3.endpoint}, _env_file=None)


@pytest.fixture
def s3_storage(s3_settings: Settings) -> Storage:
    return Storage.from_settings(s3_settings)
