"""Fixtures for tests against a real Dask cluster (see daskcluster.py for the processes themselves)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from daskcluster import DaskCluster, dask_cluster


@pytest.fixture
def make_dask_cluster() -> Callable[..., AbstractContextManager[DaskCluster]]:
    """`with make_dask_cluster(2, memory_limit="600MB", nthreads=1) as cluster:` a fresh cluster in a test."""
    return dask_cluster


@pytest.fixture
def dask_pair() -> Iterator[DaskCluster]:
    """A scheduler and two 1-thread workers of 1 GB, for tests that need any small real cluster."""
    with dask_cluster(2, memory_limit="1GB", nthreads=1) as cluster:
        yield cluster
