"""Settings of the intake service, beside the shared ones."""

from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings


class IntakeSettings(ChassisSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8001
    schema_name: str = "intake"
