"""All settings in one place: environment variables prefixed `AUTOML_` or a `.env` file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOML_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Database, uploads and artifacts live here.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    max_upload_mb: int = Field(1024, ge=1, description="Largest accepted upload, enforced while streaming.")
    job_lease_s: float = Field(60, gt=0, description="How long a silent worker keeps a job.")
    dask_scheduler: str | None = Field(None, description="Dask scheduler address; unset = local processes.")
    api_keys_required: bool | None = Field(
        None, description="Require API keys on predict endpoints; default on when bound beyond loopback."
    )
    log_level: str = "INFO"
    log_json: bool = False
    model_cache_mb: int = Field(2048, ge=16, description="Memory budget of the in-process model cache.")

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
