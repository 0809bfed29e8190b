"""A generated web-sessions table (will the session end in a purchase?), written as partitioned Parquet.

Real-looking and string-heavy like most logs: long user-agent strings, landing pages, referrers, countries,
devices, a few numbers and a flag. The outcome follows a logistic model of them (country, device, page
section, time on site, pages viewed, returning visitor, hour), so a model can beat the base rate but not
reach certainty. Strings are decoded by Arrow from integer codes: generation never builds millions of
Python strings; the files hold them in Parquet dictionary pages, and reading decodes them in full (what the
in-memory size measures).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_BROWSERS = [("Chrome", "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{b}.{p} Safari/537.36"),
             ("Firefox", "Gecko/20100101 Firefox/{v}.0"),
             ("Safari", "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s}.{p} Safari/605.1.15"),
             ("Edge", "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{b}.{p} Safari/537.36 Edg/{v}.0.{b}.{p}")]
_SYSTEMS = ["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64",
            "iPhone; CPU iPhone OS 17_4 like Mac OS X", "Linux; Android 14; SM-S918B",
            "iPad; CPU OS 16_6 like Mac OS X"]
_SECTIONS = ["shop", "product", "blog", "help", "account", "deals", "search", "category"]
_WORDS = ["running", "shoes", "winter", "jacket", "kids", "garden", "kitchen", "coffee", "laptop", "desk", "lamp",
          "yoga", "mat", "camera", "travel", "bag", "wireless", "headphones", "organic", "tea"]
_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "BR", "MX", "CA", "AU", "JP", "IN", "ZA"]
_DEVICES = ["desktop", "mobile", "tablet"]
_REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://t.co/",
              "https://www.facebook.com/", "https://news.ycombinator.com/", "https://www.reddit.com/r/deals/",
              "https://mail.example-newsletter.com/campaign/", ""]
FEATURES = ["user_agent", "landing_page", "referrer", "country", "device", "session_seconds", "pages_viewed",
            "hour", "days_since_last_visit", "returning"]
KINDS = {"user_agent": "categorical", "landing_page": "categorical", "referrer": "categorical",
         "country": "categorical", "device": "categorical", "session_seconds": "numeric", "pages_viewed": "numeric",
         "hour": "numeric", "days_since_last_visit": "numeric", "returning": "boolean"}
TARGET = "purchased"


@dataclass(frozen=True)
class Vocab:
    user_agents: np.ndarray
    pages: np.ndarray
    page_section: np.ndarray  # section index of each page
    referrers: np.ndarray


def vocab(seed: int = 0) -> Vocab:
    rng = np.random.default_rng(seed)
    agents = []
    for i in range(400):
        name, tail = _BROWSERS[i % len(_BROWSERS)]
        system = _SYSTEMS[rng.integers(len(_SYSTEMS))]
        version = tail.format(v=100 + i % 27, b=4000 + i * 13, p=i % 200, s=15 + i % 3)
        agents.append(f"Mozilla/5.0 ({system}) {version}")
    sections = rng.integers(len(_SECTIONS), size=600)
    campaigns = [f"utm_source={src}&utm_medium={med}&utm_campaign={camp}_2026&utm_content={cont}"
                 for src, med, camp, cont in zip(rng.choice(["newsletter", "google", "facebook", "partner"], 40),
                                                 rng.choice(["email", "cpc", "social", "affiliate"], 40),
                                                 rng.choice(["winter_sale", "new_arrivals", "clearance"], 40),
                                                 rng.choice(["hero_banner", "footer_link", "sidebar"], 40),
                                                 strict=True)]
    pages = [f"https://shop.example.com/{_SECTIONS[s]}/{'-'.join(rng.choice(_WORDS, size=3))}/{10_000 + i}"
             f"?{campaigns[i % len(campaigns)]}" for i, s in enumerate(sections)]
    referrers = [r + (f"search?q={'+'.join(rng.choice(_WORDS, size=3))}&source=hp&ei={rng.integers(1e9):x}"
                      if r.startswith("https://www.") else "") for r in _REFERRERS for _ in range(12)]
    return Vocab(np.asarray(agents, dtype=object), np.asarray(pages, dtype=object), sections,
                 np.asarray(referrers, dtype=object))


def _dictionary(codes: np.ndarray, values: np.ndarray) -> pa.Array:
    """Plain strings (as an upload stores them), decoded from the codes by Arrow; Parquet's dictionary pages
    keep the files small."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values.tolist())).cast(pa.string())


def sessions(n: int, *, seed: int, voc: Vocab) -> pa.Table:
    """`n` sessions; rows differ with `seed`."""
    rng = np.random.default_rng(seed)
    agent = np.minimum(rng.zipf(1.3, n) - 1, len(voc.user_agents) - 1)
    page = rng.integers(len(voc.pages), size=n)
    ref = rng.integers(len(voc.referrers), size=n)
    country = rng.choice(len(_COUNTRIES), size=n, p=np.r_[0.3, 0.12, 0.1, np.full(13, 0.48 / 13)])
    device = rng.choice(3, size=n, p=[0.45, 0.45, 0.1])
    seconds = rng.lognormal(4.5, 1.0, n)
    pages_viewed = rng.poisson(np.clip(seconds / 60, 0.5, 30)) + 1
    hour = rng.integers(24, size=n)
    returning = rng.random(n) < 0.35
    days = np.where(returning, rng.exponential(20, n), np.nan)
    section = voc.page_section[page]
    logit = (-3.2 + 0.55 * np.log1p(pages_viewed) + 0.25 * np.log(seconds / 90) + 0.7 * returning
             + np.array([0.6, 0.8, 0.2, -0.4, 0.3, -0.6, 0.9, 0.1])[section]
             + np.array([0.0, -0.5, 0.3])[device] + 0.04 * (country % 5) - 0.3 * ((hour < 6) | (hour > 22))
             - 0.015 * np.nan_to_num(days, nan=30.0) + 0.3 * (agent % 7 == 0))
    purchased = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pa.table({
        "user_agent": _dictionary(agent, voc.user_agents), "landing_page": _dictionary(page, voc.pages),
        "referrer": _dictionary(ref, voc.referrers), "country": _dictionary(country, np.asarray(_COUNTRIES)),
        "device": _dictionary(device, np.asarray(_DEVICES)), "session_seconds": np.round(seconds, 1),
        "pages_viewed": pages_viewed.astype(np.int64), "hour": hour.astype(np.int64),
        "days_since_last_visit": np.round(days, 2), "returning": returning, TARGET: purchased,
    })


@dataclass(frozen=True)
class Written:
    folder: Path
    rows: int
    files: int
    row_groups: int
    arrow_bytes: int  # decoded Arrow tables, summed over files
    pandas_bytes: int  # pandas memory_usage(deep=True) of each file read back, summed
    parquet_bytes: int  # on disk


def write(folder: Path, *, files: int, rows_per_file: int, row_group_rows: int, seed: int = 0,
          measure: bool = True) -> Written:
    """`files` Parquet files of `rows_per_file` rows in row groups of `row_group_rows`; the in-memory sizes
    are measured file by file (never the whole table at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    voc = vocab(seed)
    arrow_bytes = pandas_bytes = groups = 0
    for i in range(files):
        path = folder / f"part-{i:04d}.parquet"
        pq.write_table(sessions(rows_per_file, seed=seed * 10_000 + i, voc=voc), path,
                       row_group_size=row_group_rows, compression="snappy")
        groups += pq.ParquetFile(path).metadata.num_row_groups
        if measure:
            table = pq.read_table(path)
            arrow_bytes += table.nbytes
            pandas_bytes += int(table.to_pandas().memory_usage(deep=True).sum())
            del table
    return Written(folder, files * rows_per_file, files, groups, arrow_bytes, pandas_bytes,
                   sum(p.stat().st_size for p in folder.glob("*.parquet")))


def local_rows(folder: Path, n: int) -> pd.DataFrame:
    """The first `n` rows of the first file, read here with pandas (as a client would send them)."""
    return pq.ParquetFile(sorted(folder.glob("*.parquet"))[0]).read_row_group(0).to_pandas().head(n)
