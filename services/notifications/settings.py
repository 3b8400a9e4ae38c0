"""Settings of the notifications service, beside the shared ones."""

from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings


class NotificationsSettings(ChassisSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8004
