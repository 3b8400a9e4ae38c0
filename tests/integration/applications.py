"""Applications and tokens for tests that go through the services' APIs."""

from __future__ import annotations

import copy
from typing import Any

from chassis.auth import Role, mint_local_token
from chassis.settings import ChassisSettings

APPLICATION: dict[str, Any] = {
    "benefit": "old_age_pension",
    "center_id": "baku-yasamal",
    "applicant": {
        "national_id": "5ZK7PQM",
        "full_name": "Aysel Mammadova",
        "birth_date": "1958-03-14",
        "phone": "+994501234567",
        "email": "aysel@example.az",
        "language": "az",
        "bank_account": "AZ21NABZ00000000137010001944",
    },
    "facts": {"insurance_years": 31},
}


def application(**changes: Any) -> dict[str, Any]:
    """The DOMAIN.md example application, with top-level `changes`."""
    body = copy.deepcopy(APPLICATION)
    body.update(changes)
    return body


def bearer(settings: ChassisSettings, *roles: Role, subject: str = "clerk-1") -> dict[str, str]:
    token = mint_local_token(settings.state_dir, roles=roles, subject=subject)
    return {"Authorization": f"Bearer {token}"}
