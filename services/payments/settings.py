"""Settings of the payments service, beside the shared ones."""

from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings


class PaymentsSettings(ChassisSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8003
