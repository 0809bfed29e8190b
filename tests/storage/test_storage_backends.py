"""Storage's API on both kinds of store: the local data folder (the default, today's layout) and a real S3 API
(moto's server on loopback): whole-object writes, sha256 checked on every read, the bounded read cache, listing
and deletion, streaming, and URLs that readers such as pandas/Dask open themselves."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
from s3tools import S3, bucket_of

from automl.config import Settings
from automl.files import new_key, sha256_file
from automl.storage import ObjectCorrupt, Storage


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return Storage.from_settings(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    return request.getfixturevalue("s3_storage")


def _prepared(store: Storage, data: bytes, suffix: str = ".bin") -> tuple[str, Path]:
    key = new_key()
    path = store.scratch(key, suffix)
    path.write_bytes(data)
    return key, path


def _tamper(store: Storage, s3: S3 | None, area: str, name: str, data: bytes) -> None:
    if not store.remote:
        (store.root / area / name).write_bytes(data)
        return
    assert s3 is not None and store.url is not None
    bucket, _, prefix = store.url.removeprefix("s3://").partition("/")
    s3.client().put_object(Bucket=bucket, Key=f"{prefix}/{area}/{name}", Body=data)


def test_put_then_read_back_checked_by_sha256(store: Storage) -> None:
    data = os.urandom(300_000)
    key, src = _prepared(store, data, ".parquet")
    sha = store.put_file("datasets", key, src, suffix=".parquet")
    assert sha == hashlib.sha256(data).hexdigest()
    assert not src.exists()  # moved into the store (remotely: into the read cache)
    copy = store.local_copy("datasets", key, sha, suffix=".parquet")
    assert copy.read_bytes() == data and sha256_file(copy) == sha
    assert store.exists("datasets", key, suffix=".parquet")
    assert store.size("datasets", key, suffix=".parquet") == len(data)
    assert b"".join(store.iter_bytes("datasets", key, suffix=".parquet", chunk=65536)) == data
    with pytest.raises(ObjectCorrupt):
        store.local_copy("datasets", key, "0" * 64, suffix=".parquet")
    with pytest.raises(FileNotFoundError):
        store.local_copy("datasets", new_key(), sha, suffix=".parquet")
    assert not store.exists("datasets", new_key(), suffix=".parquet")


def test_default_store_is_todays_layout_in_the_data_folder(tmp_path: Path) -> None:
    store = Storage.from_settings(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    assert not store.remote
    key, src = _prepared(store, b"model bytes", ".joblib")
    sha = store.put_file("artifacts", key, src, suffix=".joblib")
    assert (tmp_path / "data" / "artifacts" / f"{key}.joblib").read_bytes() == b"model bytes"
    assert store.artifact(key) == store.local_copy("artifacts", key, sha, suffix=".joblib")  # in place, no copy
    assert not (tmp_path / "data" / "cache").exists()
    where = tmp_path / "data" / "artifacts" / f"{key}.joblib"
    assert store.url_of("artifacts", key, ".joblib") == str(where.resolve())


def test_a_tampered_object_is_refused_cached_copy_included(store: Storage, request: pytest.FixtureRequest) -> None:
    s3 = request.getfixturevalue("s3") if store.remote else None
    key, src = _prepared(store, b"a" * 1000, ".joblib")
    sha = store.put_file("artifacts", key, src, suffix=".joblib")
    _tamper(store, s3, "artifacts", f"{key}.joblib", b"b" * 1000)
    if store.remote:  # the copy cached on upload is the verified one; without it the download is checked
        assert store.local_copy("artifacts", key, sha, suffix=".joblib").read_bytes() == b"a" * 1000
        for p in (store.cache_dir / "artifacts").iterdir():
            p.write_bytes(b"c" * 1000)  # a damaged cache entry is not trusted either: fetched again, and refused
    with pytest.raises(ObjectCorrupt):
        store.local_copy("artifacts", key, sha, suffix=".joblib")
    if store.remote:
        assert list((store.cache_dir / "artifacts").iterdir()) == []  # nothing unverified kept


def test_list_and_delete(store: Storage) -> None:
    keys = []
    for i in range(3):
        key, src = _prepared(store, f"row {i}".encode(), ".csv")
        store.put_file("predictions", f"e7x{key}", src, suffix=".csv", cache=False)
        keys.append(f"e7x{key}")
    other, src = _prepared(store, b"other", ".csv")
    store.put_file("predictions", other, src, suffix=".csv", cache=False)
    listed = store.objects("predictions", prefix="e7x")
    assert sorted(o.key for o in listed) == sorted(keys)
    assert all(o.mtime is not None and o.size == 5 and o.name.endswith(".csv") for o in listed)
    store.delete("predictions", f"{keys[0]}.csv")
    store.delete("predictions", f"{keys[0]}.csv")  # gone already: fine
    assert sorted(o.key for o in store.objects("predictions")) == sorted([*keys[1:], other])
    with pytest.raises(ValueError):
        store.delete("predictions", "../secret.key")


def test_fetched_gives_a_local_file_and_cleans_up(store: Storage) -> None:
    key, src = _prepared(store, b"a,b\n1,2\n", ".input.csv")
    store.put_file("predictions", key, src, suffix=".input.csv", cache=False)
    with store.fetched("predictions", key, suffix=".input.csv") as local:
        assert local.read_bytes() == b"a,b\n1,2\n"
    assert local.exists() == (not store.remote)  # a download is removed afterwards; the local store's file stays
    with pytest.raises(FileNotFoundError), store.fetched("predictions", new_key(), suffix=".csv"):
        pass


def test_readers_open_the_url_with_the_storage_options(store: Storage) -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    key = new_key()
    src = store.scratch(key, ".parquet")
    df.to_parquet(src, index=False)
    store.put_file("datasets", key, src, suffix=".parquet")
    url = store.url_of("datasets", key, ".parquet")
    assert url.startswith("s3://" if store.remote else "/")
    pd.testing.assert_frame_equal(pd.read_parquet(url, storage_options=store.storage_options or None), df)


def test_the_read_cache_is_bounded_least_recently_used_first(s3_settings: Settings, monkeypatch) -> None:
    monkeypatch.setattr("automl.storage.CACHE_KEEP_S", 0.0)
    store = Storage.from_settings(s3_settings.model_copy(update={"storage_cache_mb": 1}))
    shas = {}
    for _ in range(3):
        key, src = _prepared(store, os.urandom(400_000), ".joblib")
        shas[key] = store.put_file("artifacts", key, src, suffix=".joblib", cache=False)
    first, second, third = shas
    for key in (first, second, third):  # 1.2 MB through a 1 MB cache
        store.local_copy("artifacts", key, shas[key], suffix=".joblib")
    cached = {p.name.split("-")[0] for p in (store.cache_dir / "artifacts").iterdir()}
    assert first not in cached and third in cached
    assert sum(p.stat().st_size for p in (store.cache_dir / "artifacts").iterdir()) <= 1 << 20
    assert store.local_copy("artifacts", first, shas[first], suffix=".joblib").stat().st_size == 400_000


def test_the_bucket_holds_the_objects_under_the_prefix(s3: S3, s3_settings: Settings, s3_storage: Storage) -> None:
    key, src = _prepared(s3_storage, b"x", ".parquet")
    s3_storage.put_file("datasets", key, src, suffix=".parquet")
    bucket, prefix = bucket_of(s3_settings)
    assert s3.keys(bucket) == [f"{prefix}/datasets/{key}.parquet"]
    assert not (s3_settings.data_dir / "datasets").exists()
