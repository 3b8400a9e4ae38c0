"""Settings of the console: where the services are, and how sessions are kept."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.auth import local_secret
from chassis.settings import ChassisSettings


class ConsoleSettings(ChassisSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8005
    intake_url: str = "http://127.0.0.1:8001"
    eligibility_url: str = "http://127.0.0.1:8002"
    payments_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    session_secret: SecretStr | None = Field(
        None,
        description="Signs the session cookies; shared by the replicas. Without it a local"
        " key is made under <DOST_STATE_DIR>/auth (development only).",
    )
    session_hours: float = Field(8.0, gt=0, le=24, description="A session's lifetime.")
    https_only: bool = Field(False, description="Session cookies only over HTTPS (production).")

    @property
    def development_sign_in(self) -> bool:
        """The development sign-in page issues the local development tokens: only when the
        services accept them (no identity provider configured)."""
        return self.auth_jwks_url is None

    def session_key(self) -> str:
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return local_secret(self.state_dir, "console-session.key")
