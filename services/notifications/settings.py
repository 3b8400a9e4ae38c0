"""Settings of the notifications service, beside the shared ones."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from chassis.auth import local_secret
from chassis.settings import ChassisSettings
from services.notifications.domain.delivery import QuietHours


class NotificationsSettings(ChassisSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8004
    schema_name: str = "notifications"

    sms_gateway_url: str = Field(
        "http://127.0.0.1:8026/v1/messages", description="The SMS gateway's send endpoint."
    )
    sms_gateway_token: SecretStr | None = Field(None, description="Bearer token of the gateway.")
    sms_sender: str = Field("DOST", description="Sender name shown on the citizen's phone.")
    sms_timeout_s: float = Field(10.0, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: str = Field(
        "none", pattern="^(none|starttls|tls)$", description="none, starttls or tls (implicit)."
    )
    smtp_ca_file: Path | None = Field(
        None, description="CA certificates to trust for the server's TLS (default: the system's)."
    )
    smtp_timeout_s: float = Field(15.0, gt=0)
    mail_from: str = Field("DOST <no-reply@dost.gov.az>", description="The From of e-mails.")
    message_id_domain: str = Field("dost.gov.az", description="Right side of Message-IDs.")

    quiet_hours: str = Field(
        "21:00-09:00", description="When no SMS is sent (Asia/Baku); `00:00-00:00`: never."
    )
    max_attempts: int = Field(6, ge=1, le=50, description="Delivery attempts before giving up.")
    retry_base_s: float = Field(30.0, gt=0, description="First retry after about this long.")
    retry_cap_s: float = Field(3600.0, gt=0, description="Longest wait between attempts.")
    sms_per_second: float = Field(20.0, gt=0, description="Rate limit towards the gateway.")
    emails_per_second: float = Field(20.0, gt=0, description="Rate limit towards the server.")
    dispatch_batch: int = Field(50, ge=1, le=1000, description="Messages claimed at a time.")
    dispatch_interval_s: float = Field(
        1.0, gt=0, description="How often due messages are looked for."
    )
    sending_lease_s: float = Field(
        60.0, gt=0, description="A message claimed for sending longer ago is sent again."
    )

    stale_after_hours: float = Field(
        72,
        gt=0,
        description="Events older than this are not told (a new deployment reading the"
        " topics' history must not message citizens about years-old steps).",
    )
    feedback_url: str = Field(
        "http://127.0.0.1:8004/feedback", description="Base of the rating links in messages."
    )
    feedback_secret: SecretStr | None = Field(
        None,
        description="Key that signs rating links; shared by every replica. Without it a"
        " local key is made under <DOST_STATE_DIR>/auth (development only).",
    )
    feedback_valid_days: int = Field(30, ge=1, le=365)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_parse(cls, text: str) -> str:
        QuietHours.parse(text)
        return text

    @property
    def quiet(self) -> QuietHours:
        return QuietHours.parse(self.quiet_hours)

    def feedback_signing_key(self) -> bytes:
        """The secret, or the local development key (made once, readable by the owner)."""
        if self.feedback_secret is not None:
            return self.feedback_secret.get_secret_value().encode()
        return local_secret(self.state_dir, "feedback-signing.key").encode()
