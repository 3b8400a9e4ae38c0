"""Settings of the payments service, beside the shared ones."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings
from contracts.types import Iban


class PaymentsSettings(ChassisSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8003
    schema_name: str = "payments"
    debtor_name: str = Field(
        "DOST Social Services Agency", description="Name on the account payments are made from."
    )
    debtor_iban: Iban = Field(
        "AZ05NABZ00000000137010000001", description="The agency's account (the bank file's debtor)."
    )
    debtor_bic: str | None = Field("NABZAZ2X", description="The debtor's bank (BIC).")
    bank_dir: Path | None = Field(
        None, description="Where bank files are written (default: <DOST_STATE_DIR>/bank)."
    )
    run_chunk: int = Field(
        2000, ge=1, description="Entitlements a payment run pays per transaction."
    )
    run_file_chunk: int = Field(
        20000, ge=1, description="Instructions a run writes to its bank file per step."
    )
    run_months_ahead: int = Field(
        1, ge=0, le=12, description="How many months after this one a run may pay."
    )
    run_lanes: int = Field(2, ge=1, le=64, description="Id ranges a payment run pays side by side.")

    @property
    def bank_files(self) -> Path:
        return self.bank_dir or self.state_dir / "bank"
