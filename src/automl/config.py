"""All settings in one place: environment variables prefixed `AUTOML_` or a `.env` file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOML_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Database, uploads and artifacts live here.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    max_upload_mb: int = Field(1024, ge=1, description="Largest accepted upload, enforced while streaming.")
    max_json_mb: int = Field(64, ge=1, description="Largest JSON (non-upload) request body, enforced while reading.")
    max_cells: int = Field(200_000_000, ge=1, description="Largest accepted file in rows x columns (413 beyond).")
    parse_memory_mb: int = Field(16384, ge=512, description="Address space of the child process parsing one file.")
    parse_timeout_s: float = Field(300, gt=0, description="Wall clock for parsing one file, once it has arrived.")
    job_lease_s: float = Field(60, gt=0, description="How long a silent worker keeps a job.")
    dask_scheduler: str | None = Field(
        None, description="Dask scheduler address (tcp://host:8786): experiments fit on its workers; unset = local."
    )
    dask_large_mb: float | None = Field(
        None, gt=0, description="Datasets over this many MB in memory train on their partitions with LightGBM's Dask "
        "estimator; default a quarter of the smallest worker's memory limit.",
    )
    api_keys_required: bool | None = Field(
        None, description="Require API keys on predict endpoints; default on when bound beyond loopback."
    )
    auth: Literal["auto", "on", "off"] = Field(
        "auto", description="Accounts and sign-in: auto = on when serving beyond loopback; off is refused there."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Host names served (others get 400); default the bound host and loopback names.",
    )
    session_idle_minutes: int = Field(480, ge=1, description="A session ends after this long without a request.")
    session_max_hours: int = Field(168, ge=1, description="A session ends this long after sign-in, whatever happens.")
    log_level: str = "INFO"
    log_json: bool = False
    secret_key: SecretStr | None = Field(None, description="Signs model artifacts (32+ chars); else data/secret.key.")
    model_cache_mb: int = Field(2048, ge=16, description="Memory budget of the in-process model cache.")
    storage_url: str | None = Field(
        None, description="Where datasets, artifacts and prediction files live: an fsspec URL (s3://bucket/prefix); "
        "default the data dir.")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="JSON object of fsspec options for AUTOML_STORAGE_URL (endpoint_url, ...).")
    storage_cache_mb: int = Field(4096, ge=0, description="Local read cache of the object store (data dir/cache).")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return [h for h in value.split(",") if h.strip()] if isinstance(value, str) else value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'automl.db').resolve()}"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def predictions_dir(self) -> Path:
        return self.data_dir / "predictions"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.uploads_dir, self.datasets_dir, self.artifacts_dir, self.predictions_dir):
            d.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
