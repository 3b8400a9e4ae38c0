"""Settings of the eligibility service, and its policy files, validated at start."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_settings import SettingsConfigDict

from chassis.settings import ChassisSettings
from services.eligibility.domain.policy import (
    ChildbirthAllowancePolicy,
    DisabilityBenefitPolicy,
    OldAgePensionPolicy,
    Policy,
    PolicyBook,
    TargetedSocialAssistancePolicy,
    UnemploymentBenefitPolicy,
)

DEFAULT_POLICY_DIR = Path(__file__).parent / "policies"


class EligibilitySettings(ChassisSettings):
    model_config = SettingsConfigDict(
        env_prefix="ELIGIBILITY_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8002
    schema_name: str = "eligibility"
    policy_dir: Path = DEFAULT_POLICY_DIR


class PolicyFileError(Exception):
    """A policy file is missing, unreadable or invalid; the message says which and why."""


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('write amounts and rates as strings ("280.00"), not floats')
    return value


Amount = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, decimal_places=2)]
Rate = Annotated[Decimal, BeforeValidator(_exact), Field(gt=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _OldAge(_Section):
    minimum_age: int = Field(ge=0, le=120)
    minimum_insurance_years: int = Field(ge=0, le=70)
    base_amount: Amount
    amount_per_extra_year: Amount
    maximum_amount: Amount


class _Disability(_Section):
    assessment_valid_months: int = Field(ge=1, le=120)
    amount_by_group: dict[Annotated[int, Field(ge=1, le=3)], Amount]


class _Unemployment(_Section):
    minimum_insured_months: int = Field(ge=0, le=18)
    wage_replacement_rate: Rate
    minimum_amount: Amount
    maximum_amount: Amount
    duration_months: int = Field(ge=1, le=60)


class _TargetedAssistance(_Section):
    income_threshold_per_member: Amount
    maximum_amount: Amount
    duration_months: int = Field(ge=1, le=60)


class _Childbirth(_Section):
    amount: Amount
    claim_window_days: int = Field(ge=1, le=3660)


class _PolicyFile(_Section):
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")
    effective_from: date
    extends: str | None = None
    old_age_pension: _OldAge
    disability_benefit: _Disability
    unemployment_benefit: _Unemployment
    targeted_social_assistance: _TargetedAssistance
    childbirth_allowance: _Childbirth


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyFileError(f"policy file {path}: {error}") from None


def _policy(path: Path, raw: dict[str, Any]) -> Policy:
    try:
        parsed = _PolicyFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyFileError(f"policy file {path} is invalid: {problems}") from None
    return Policy(
        version=parsed.version,
        effective_from=parsed.effective_from,
        old_age_pension=OldAgePensionPolicy(**parsed.old_age_pension.model_dump()),
        disability_benefit=DisabilityBenefitPolicy(**parsed.disability_benefit.model_dump()),
        unemployment_benefit=UnemploymentBenefitPolicy(**parsed.unemployment_benefit.model_dump()),
        targeted_social_assistance=TargetedSocialAssistancePolicy(
            **parsed.targeted_social_assistance.model_dump()
        ),
        childbirth_allowance=ChildbirthAllowancePolicy(**parsed.childbirth_allowance.model_dump()),
    )


def _resolve(path: Path, raw: dict[str, Any], known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    parent = raw.get("extends")
    if parent is None:
        return raw
    if parent not in known:
        raise PolicyFileError(f"policy file {path} extends unknown version {parent!r}")
    return _merge(known[parent], raw)


def load_policy_book(directory: Path) -> tuple[PolicyBook, dict[str, dict[str, Any]]]:
    """Every `*.toml` policy in `directory`, validated, and their resolved raw forms
    (for a proposed policy that extends one of them)."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise PolicyFileError(f"no policy files (*.toml) in {directory}")
    raws = {path: _read(path) for path in files}
    resolved: dict[str, dict[str, Any]] = {}
    pending = dict(raws)
    while pending:
        progressed = False
        for path, raw in list(pending.items()):
            if raw.get("extends") in (None, *resolved):
                full = _resolve(path, raw, resolved)
                version = str(full.get("version"))
                if version in resolved:
                    raise PolicyFileError(f"policy version {version!r} is defined twice")
                resolved[version] = full
                del pending[path]
                progressed = True
        if not progressed:
            declared = {str(raw.get("version")) for raw in raws.values()}
            for path, raw in pending.items():
                if raw.get("extends") not in declared:
                    raise PolicyFileError(
                        f"policy file {path} extends unknown version {raw.get('extends')!r}"
                    )
            names = ", ".join(sorted(str(path) for path in pending))
            raise PolicyFileError(f"policy files extend each other in a circle: {names}")
    paths = {str(raw.get("version")): path for path, raw in raws.items()}
    policies = [_policy(paths[version], raw) for version, raw in resolved.items()]
    try:
        return PolicyBook(policies), resolved
    except ValueError as error:
        raise PolicyFileError(f"policy files in {directory}: {error}") from None


def load_proposed_policy(path: Path, known: dict[str, dict[str, Any]]) -> Policy:
    """A policy file that is not in force (for what-if simulations)."""
    raw = _read(path)
    return _policy(path, _resolve(path, raw, known))
