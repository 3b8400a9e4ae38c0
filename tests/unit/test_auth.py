"""Bearer tokens: 401 for missing, malformed, expired or foreign tokens; 403 for a wrong role."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from chassis.auth import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    Principal,
    Role,
    local_verifier,
    mint_local_token,
    require_roles,
)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def client(state_dir: Path) -> TestClient:
    app = FastAPI()
    app.state.token_verifier = local_verifier(state_dir)

    @app.get("/clerks-only")
    def clerks_only(principal: Principal = Depends(require_roles(Role.CLERK))) -> dict[str, str]:  # noqa: B008
        return {"subject": principal.subject}

    return TestClient(app)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_with_the_role_is_accepted(client: TestClient, state_dir: Path) -> None:
    token = mint_local_token(state_dir, roles=[Role.CLERK], subject="clerk-7")
    response = client.get("/clerks-only", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"subject": "clerk-7"}


def test_missing_token_is_401_with_json_body(client: TestClient) -> None:
    response = client.get("/clerks-only")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "missing bearer token"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer not.a.jwt", "token"])
def test_malformed_authorization_is_401(client: TestClient, header: str) -> None:
    response = client.get("/clerks-only", headers={"Authorization": header})
    assert response.status_code == 401


def test_expired_token_is_401(client: TestClient, state_dir: Path) -> None:
    token = mint_local_token(state_dir, roles=[Role.CLERK], subject="c", ttl_seconds=-10)
    response = client.get("/clerks-only", headers=_bearer(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_token_signed_by_another_key_is_401(client: TestClient) -> None:
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "x",
        "roles": ["clerk"],
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, foreign_key, algorithm="RS256")
    assert client.get("/clerks-only", headers=_bearer(token)).status_code == 401


def test_unsigned_token_is_401(client: TestClient) -> None:
    claims = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "x",
        "roles": ["clerk"],
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    assert client.get("/clerks-only", headers=_bearer(token)).status_code == 401


def test_wrong_role_is_403(client: TestClient, state_dir: Path) -> None:
    token = mint_local_token(state_dir, roles=[Role.AUDITOR], subject="a")
    response = client.get("/clerks-only", headers=_bearer(token))
    assert response.status_code == 403
    assert "clerk" in response.json()["detail"]


def test_local_key_is_created_once_and_private(state_dir: Path) -> None:
    first = mint_local_token(state_dir, roles=[Role.CLERK], subject="a")
    key_file = state_dir / "auth" / "jwt-signing-key.pem"
    assert key_file.stat().st_mode & 0o077 == 0
    assert local_verifier(state_dir).verify(first).subject == "a"
