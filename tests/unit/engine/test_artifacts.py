"""Artifacts (issue 13, item 7): written atomically; sha256 and an HMAC under the server key checked on the bytes
read once, before joblib.load (pickle) ever sees them."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.engine import ArtifactIntegrityError, FittedModel, artifacts
from automl.engine.artifacts import (
    KEY_FILE,
    artifact_hmac,
    file_sha256,
    load_model,
    save_model,
    signing_key,
    write_atomic,
)

KEY = b"k" * 32


@pytest.fixture(scope="module")
def model() -> FittedModel:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int).to_numpy()
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"])])
    pipe = make_pipeline(pre, LogisticRegression()).fit(X, y)
    schema = [{"name": "a", "kind": "numeric", "dtype": "float64"}, {"name": "b", "kind": "numeric",
                                                                       "dtype": "float64"}]
    return FittedModel(algorithm="logreg", problem_type="binary", classes=np.array([0, 1]), kinds={"a": "numeric",
                       "b": "numeric"}, input_schema=schema, members=[(pipe, 1.0)])


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail loudly if joblib.load or pickle is reached: a refused artifact must never get that far."""
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("joblib.load was called on a refused artifact")

    monkeypatch.setattr(artifacts.joblib, "load", refuse)
    monkeypatch.setattr("pickle.load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    return calls


def test_a_signed_artifact_loads_and_predicts(tmp_path: Path, model: FittedModel) -> None:
    path = tmp_path / "m.joblib"
    sha = save_model(model, path)
    loaded = load_model(path, sha, key=KEY, signature=artifact_hmac(KEY, sha, "m"), context="m")
    assert loaded.predict(pd.DataFrame({"a": [1.0, -1.0], "b": [0.0, 0.0]})).tolist() == [1, 0]


def test_changed_bytes_are_refused_before_unpickling(tmp_path: Path, model: FittedModel, no_unpickling) -> None:
    path = tmp_path / "m.joblib"
    sha = save_model(model, path)
    mac = artifact_hmac(KEY, sha)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_model(path, sha, key=KEY, signature=mac)
    assert no_unpickling == []


def test_a_valid_pickle_with_its_sha256_recomputed_but_no_key_is_refused(
    tmp_path: Path, no_unpickling,
) -> None:
    """Someone who can write the artifact and its recorded sha256, but does not hold the server key."""
    path = tmp_path / "m.joblib"
    with open(path, "wb") as fh:
        joblib.dump({"not": "a model"}, fh)  # the real dump, before no_unpickling took joblib.load away
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for forged in (None, "", artifact_hmac(b"x" * 32, sha), artifact_hmac(KEY, sha, "another-model"), "0" * 64):
        with pytest.raises(ArtifactIntegrityError, match="HMAC|not signed"):
            load_model(path, sha, key=KEY, signature=forged, context="this-model")
    assert no_unpickling == []


def test_the_bytes_checked_are_the_bytes_unpickled(tmp_path: Path, model: FittedModel,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is read once: a swap between the check and the load cannot slip in another file."""
    path = tmp_path / "m.joblib"
    sha = save_model(model, path)
    seen: list[object] = []
    real = joblib.load

    def spy(source: object) -> object:
        seen.append(source)
        return real(source)

    monkeypatch.setattr(artifacts.joblib, "load", spy)
    load_model(path, sha, key=KEY, signature=artifact_hmac(KEY, sha))
    assert len(seen) == 1 and not isinstance(seen[0], str | Path)


def test_an_interrupted_write_leaves_the_old_file_and_no_partial_one(tmp_path: Path, model: FittedModel,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "artifacts" / "m.joblib"
    sha = save_model(model, path)

    def dies_half_way(value: object, fh, **kwargs: object) -> None:
        fh.write(b"half a pickle")
        raise KeyboardInterrupt  # or a full disk, or SIGTERM

    monkeypatch.setattr(artifacts.joblib, "dump", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert file_sha256(path) == sha
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.joblib"]
    fresh = tmp_path / "artifacts" / "new.joblib"
    with pytest.raises(KeyboardInterrupt):
        save_model(model, fresh)
    assert not fresh.exists() and sorted(p.name for p in path.parent.iterdir()) == ["m.joblib"]


def test_write_atomic_renames_a_complete_file_into_place(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    write_atomic(target, lambda fh: fh.write(b"one"))
    write_atomic(target, lambda fh: fh.write(b"two"))
    assert target.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _key_in_child(data_dir: str, queue: multiprocessing.Queue) -> None:
    queue.put(signing_key(data_dir).hex())


def test_the_key_file_is_made_once_private_and_shared_by_processes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_key_in_child, args=(str(data_dir), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(30)
    assert len(keys) == 1 and len(bytes.fromhex(keys.pop())) == 32
    assert stat.S_IMODE(os.stat(data_dir / KEY_FILE).st_mode) == 0o600
    assert signing_key(data_dir).hex() == (data_dir / KEY_FILE).read_text().strip()
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE]  # no temporary left


def test_a_configured_secret_wins_and_must_be_long(tmp_path: Path) -> None:
    assert signing_key(tmp_path, "s" * 40) == b"s" * 40
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(ValueError, match="at least 32"):
        signing_key(tmp_path, "short")
