"""Settings of the eligibility service, beside the shared ones."""

from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings


class EligibilitySettings(ChassisSettings):
    model_config = SettingsConfigDict(
        env_prefix="ELIGIBILITY_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8002
