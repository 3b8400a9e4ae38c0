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
        True,
        alias="KAFKA_ENABLE_IDEMPOTENCE",
        description="Idempotent producer (Apache Kafka); the local stack's broker lacks it.",
    )
    kafka_request_timeout_ms: int = Field(15_000, alias="KAFKA_REQUEST_TIMEOUT_MS", ge=1000)
    kafka_session_timeout_ms: int = Field(10_000, alias="KAFKA_SESSION_TIMEOUT_MS", ge=1000)
    kafka_heartbeat_interval_ms: int = Field(3_000, alias="KAFKA_HEARTBEAT_INTERVAL_MS", ge=100)
    kafka_max_batch_records: int = Field(500, alias="KAFKA_MAX_BATCH_RECORDS", ge=1)
    kafka_topic_partitions: int = Field(
        6, alias="KAFKA_TOPIC_PARTITIONS", ge=1, description="Partitions of every topic."
    )
    kafka_topic_replication_factor: int = Field(
        3, alias="KAFKA_TOPIC_REPLICATION_FACTOR", ge=1, description="Copies of every topic."
    )
    kafka_topic_min_insync_replicas: int = Field(
        2,
        alias="KAFKA_TOPIC_MIN_INSYNC_REPLICAS",
        ge=1,
        description="Copies that must have a record before it is acknowledged.",
    )
    kafka_topic_retention_ms: int = Field(
        30 * 24 * 3600 * 1000,
        alias="KAFKA_TOPIC_RETENTION_MS",
        ge=-1,
        description="How long command and dead-letter topics keep records (-1: forever).",
    )
    kafka_event_topic_retention_ms: int = Field(
        -1,
        alias="KAFKA_EVENT_TOPIC_RETENTION_MS",
        ge=-1,
        description="How long the event topics keep records; -1 (forever) lets read models"
        " be rebuilt from them.",
    )
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
    metrics_refresh_s: float = Field(
        10.0,
        alias="METRICS_REFRESH_SECONDS",
        gt=0,
        description="How often the backlog gauges are read (consumer lag: every third time).",
    )
    http_max_body_bytes: int = Field(
        262_144,
        alias="HTTP_MAX_BODY_BYTES",
        ge=1,
        description="Largest HTTP request body a service reads; larger ones are answered 413.",
    )
    job_lease_seconds: float = Field(
        30.0,
        alias="JOB_LEASE_SECONDS",
        gt=1,
        description="A job runner that stops renewing its lease is replaced after this long.",
    )
    relay_lease_seconds: float = Field(
        30.0,
        alias="OUTBOX_RELAY_LEASE_SECONDS",
        gt=1,
        description="A relay that stops renewing its lease is replaced after this long.",
    )
