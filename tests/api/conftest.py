"""Fixtures of the API tests."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from automl.config import Settings


@pytest.fixture
def worker(client: TestClient, settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """The real worker (`automl serve` embeds the same one) on the client's data dir and database."""
    env = {**os.environ, "AUTOML_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "automl.jobs"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    yield proc
    proc.terminate()
    proc.wait(15)
