"""The OpenAPI documents tell the truth: valid OpenAPI, the bearer scheme and roles on every
route that needs a token and on no other, every error in the shape really served (checked
against a real 422), /metrics as text, the application's cross-field rules stated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from chassis.auth import Role, mint_local_token
from services.eligibility.app import create_app as eligibility
from services.eligibility.settings import EligibilitySettings
from services.intake.app import create_app as intake
from services.intake.settings import IntakeSettings
from services.notifications.app import create_app as notifications
from services.notifications.settings import NotificationsSettings
from services.payments.app import create_app as payments
from services.payments.settings import PaymentsSettings

OPEN = {"/healthz", "/readyz", "/metrics", "/asyncapi", "/v1/feedback", "/feedback/{token}"}
SERVICES: dict[str, tuple[Callable[..., FastAPI], type[Any]]] = {
    "intake": (intake, IntakeSettings),
    "eligibility": (eligibility, EligibilitySettings),
    "payments": (payments, PaymentsSettings),
    "notifications": (notifications, NotificationsSettings),
}


def app_of(name: str, state_dir: Path) -> FastAPI:
    create, settings = SERVICES[name]
    return create(settings(DOST_STATE_DIR=state_dir))


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_document_is_valid_and_names_the_roles_of_every_guarded_route(
    name: str, tmp_path: Path
) -> None:
    document = app_of(name, tmp_path).openapi()
    validate(document)
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    roles = {role.value for role in Role}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{name} {method.upper()} {path}"
            responses = operation["responses"]
            if path in OPEN:
                assert "security" not in operation, where
                if path != "/v1/feedback":  # (its token is in the body: 401 when forged)
                    assert "401" not in responses, where
                continue
            (requirement,) = operation["security"]
            assert requirement["bearerAuth"], where
            assert set(requirement["bearerAuth"]) <= roles, where
            assert {"401", "403", "500"} <= set(responses), where
            assert "Roles: " in operation["description"], where
            for code, response in responses.items():
                if code[0] in "45":
                    schema = response["content"]["application/json"]["schema"]["$ref"]
                    expected = "ValidationErrorBody" if code == "422" else "ErrorBody"
                    assert schema.endswith(f"/{expected}"), (where, code)
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), where


@pytest.mark.parametrize(
    ("name", "method", "path"),
    [
        ("intake", "get", "/v1/applications/{case_id}"),
        ("intake", "post", "/v1/applications/{case_id}/withdraw"),
        ("intake", "get", "/v1/jobs/{name}"),
        ("payments", "get", "/v1/payment-runs/{run_id}"),
        ("payments", "get", "/v1/entitlements/{entitlement_id}"),
        ("payments", "put", "/v1/entitlements/{entitlement_id}/bank-account"),
        ("eligibility", "post", "/v1/reviews/{case_id}/decision"),
    ],
)
def test_routes_that_answer_404_say_so(name: str, method: str, path: str, tmp_path: Path) -> None:
    responses = app_of(name, tmp_path).openapi()["paths"][path][method]["responses"]
    assert "404" in responses


def test_metrics_are_text_and_errors_share_one_shape(tmp_path: Path) -> None:
    document = app_of("intake", tmp_path).openapi()
    (media,) = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert media == "text/plain"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    application = " ".join(
        document["components"]["schemas"]["ApplicationBody"]["description"].split()
    )
    assert "bank_account" in application
    assert "at least one of `phone` and `email`" in application


async def test_a_real_422_matches_the_documented_body(tmp_path: Path) -> None:
    app = app_of("intake", tmp_path)
    document = app.openapi()
    schema = {
        "$ref": "#/components/schemas/ValidationErrorBody",
        "components": document["components"],
    }
    token = mint_local_token(tmp_path, roles=[Role.CLERK], subject="clerk-1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as client:
        answer = await client.post(
            "/v1/applications",
            json={"benefit": "old_age_pension", "applicant": {}},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
        )
        unauthorized = await client.get("/v1/applications")
    assert answer.status_code == 422
    body = answer.json()
    jsonschema.validate(body, schema)
    assert {"center_id", "facts"} <= {problem["loc"] for problem in body["errors"]}
    assert unauthorized.status_code == 401
    jsonschema.validate(
        unauthorized.json(),
        {"$ref": "#/components/schemas/ErrorBody", "components": document["components"]},
    )
