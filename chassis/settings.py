"""Settings every service shares, read from the environment (pydantic-settings).

Unprefixed variables are shared by all services (`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`,
...); each service adds its own with its prefix (`INTAKE_PORT`, ...).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".dost")
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/dost"
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


class ChassisSettings(BaseSettings):
    """What the chassis needs to reach PostgreSQL, Kafka, the telemetry back end and the IdP."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(
        LOCAL_DATABASE_URL, alias="DATABASE_URL", description="PostgreSQL DSN."
    )
    database_pool_min: int = Field(1, alias="DATABASE_POOL_MIN", ge=0)
    database_pool_max: int = Field(10, alias="DATABASE_POOL_MAX", ge=1)
    kafka_bootstrap_servers: str = Field(
        LOCAL_KAFKA_BOOTSTRAP, alias="KAFKA_BOOTSTRAP_SERVERS", description="host:port[,host:port]"
    )
    kafka_enable_idempotence: bool = Field(
        False,
        alias="KAFKA_ENABLE_IDEMPOTENCE",
        description="Idempotent producer; off by default because not every broker supports it.",
    )
    kafka_session_timeout_ms: int = Field(10_000, alias="KAFKA_SESSION_TIMEOUT_MS", ge=1000)
    kafka_heartbeat_interval_ms: int = Field(3_000, alias="KAFKA_HEARTBEAT_INTERVAL_MS", ge=100)
    kafka_max_batch_records: int = Field(500, alias="KAFKA_MAX_BATCH_RECORDS", ge=1)
    state_dir: Path = Field(
        DEFAULT_STATE_DIR, alias="DOST_STATE_DIR", description="Local state: keys, traces, data."
    )
    otel_exporter_otlp_endpoint: str | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    auth_jwks_url: str | None = Field(
        None, alias="AUTH_JWKS_URL", description="OIDC issuer's JWKS; unset = local dev key."
    )
    auth_issuer: str | None = Field(None, alias="AUTH_ISSUER")
    auth_audience: str | None = Field(None, alias="AUTH_AUDIENCE")
    auth_roles_claim: str = Field("roles", alias="AUTH_ROLES_CLAIM")
    relay_batch_size: int = Field(500, alias="OUTBOX_RELAY_BATCH_SIZE", ge=1)
    relay_poll_interval_s: float = Field(1.0, alias="OUTBOX_RELAY_POLL_INTERVAL", gt=0)
