"""Small datasets registered straight in the database, profiled by the real profiler (the upload path has its own
tests)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from automl.db import Database
from automl.db.models import Dataset
from automl.files import new_key
from automl.ingest.profile import profile_parquet
from automl.storage import Storage


def classification_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    city = rng.choice(["north", "south", "east"], n)
    logit = x[:, 0] - x[:, 1] + (city == "south") * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"]).round(3)
    df["city"], df["label"] = city, y
    return df


def add_dataset(db: Database, storage: Storage, df: pd.DataFrame, name: str = "synth.csv") -> int:
    key = new_key()
    path = storage.dataset(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    profile = profile_parquet(path)
    with db.session() as s:
        ds = Dataset(name=name, storage_key=key, source_format="csv", size_bytes=path.stat().st_size, sha256="0" * 64,
                     n_rows=len(df), n_cols=df.shape[1], profile=profile)
        s.add(ds)
        s.flush()
        return ds.id
