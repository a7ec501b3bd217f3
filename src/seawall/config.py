"""One settings object for every shell (API, CLI, workers), read from ``SEAWALL_*`` environment variables.

Keeping configuration in one typed place means an operator can read every knob in the README table
and every component sees the same values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to ``SEAWALL_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_", extra="ignore")

    data_dir: Path = Field(default=Path("./seawall-data"), description="Where SQLite, snapshots and media live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite in data_dir. postgresql+psycopg://… switches to Postgres.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, description="Largest accepted upload body.")
    max_import_bytes: int = Field(default=4 * 1024**3, description="Largest accepted hash-list import body.")
    max_image_pixels: int = Field(default=50_000_000, description="Largest accepted image (width × height).")
    pdq_threshold: int = Field(default=31, ge=0, le=128, description="Default PDQ match distance.")
    pdq_min_quality: int = Field(default=50, ge=0, le=100, description="PDQ hashes below this never match.")
    jpeg_draft: bool = Field(default=True, description="Let the JPEG decoder downscale large images first.")
    api_workers: int = Field(default=1, ge=1, le=64, description="API server processes (each keeps its own index).")
    index_refresh_seconds: float = Field(
        default=0.25, gt=0, le=60, description="How often a server picks up bank entries written by other processes."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Background worker threads (video processing).")
    log_level: str = "info"

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'seawall.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
