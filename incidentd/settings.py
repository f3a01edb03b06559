"""Process settings from the environment (`INCIDENTD_*`) and the command line; built once.

What an SRE edits and reloads lives in the config directory (rules/); what an operator sets
per process (addresses, the Redis URL, limits of this process) lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENTD_", extra="ignore", frozen=True)

    config_dir: Path = Path("config/example")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    redis_url: SecretStr | None = None
    """Selects the Redis store and queue; without it the in-memory store is used."""
    redis_prefix: str = "incidentd"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    queue_max_depth: int = Field(default=100_000, gt=0)
    """High-water mark of the queue, in webhooks (entries): past it, webhooks get 503."""
    append_timeout: float = Field(default=2.0, gt=0)
    """Seconds a webhook may wait for the queue before it gets 503."""
    retry_after: int = Field(default=5, ge=1)
    """Seconds sent in Retry-After with a 503."""
    shutdown_timeout: float = Field(default=10.0, gt=0)
    """Seconds in-flight requests get to finish on SIGTERM."""
    reload_interval: float = Field(default=2.0, gt=0)
    """Seconds between checks of the config directory for changes."""
    engine: bool = True
    """Run the correlation engine in this process; false makes an ingest-only replica."""
    actions: bool = True
    """Run the outbox workers in this process (every replica may: claims are atomic)."""
    public_url: str | None = None
    """Where people reach this daemon's API (`https://incidentd.example.com`): links to the
    incident in pages and messages."""
    engine_batch: int = Field(default=200, gt=0, le=10_000)
    """Queue entries (webhooks) the engine takes per round."""
    reclaim_idle: float = Field(default=30.0, gt=0)
    """Seconds after which entries left pending by a dead consumer are taken over."""
    lease_ttl: float = Field(default=10.0, gt=0.5)
    """Seconds the engine lease lasts without renewal (failover time with Redis)."""
    retention: float = Field(default=86_400.0, gt=0)
    """Seconds resolved alerts and groups are kept."""
    record_path: Path | None = None
    """Record accepted webhooks here as JSON Lines for `incidentd replay` (off when unset)."""
    record_max_bytes: int = Field(default=1 << 30, gt=0)
    """Rotate the recording to `<path>.1` past this size."""
