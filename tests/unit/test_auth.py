"""Bearer tokens: 401 for missing, malformed, expired or foreign tokens; 403 for a wrong role."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
    ensure_local_signing_key,
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
    created, pem = key_file.stat(), key_file.read_bytes()
    assert created.st_mode & 0o077 == 0

    second = mint_local_token(state_dir, roles=[Role.CLERK], subject="b")
    assert ensure_local_signing_key(state_dir) == key_file
    reused = key_file.stat()
    assert key_file.read_bytes() == pem
    assert (reused.st_ino, reused.st_mtime_ns) == (created.st_ino, created.st_mtime_ns)
    verifier = local_verifier(state_dir)
    assert (verifier.verify(first).subject, verifier.verify(second).subject) == ("a", "b")


def test_callers_racing_to_create_the_key_all_sign_with_the_one_kept(state_dir: Path) -> None:
    callers = 8
    start_together = threading.Barrier(callers)

    def mint(n: int) -> str:
        start_together.wait()
        return mint_local_token(state_dir, roles=[Role.CLERK], subject=f"caller-{n}")

    with ThreadPoolExecutor(callers) as pool:
        tokens = list(pool.map(mint, range(callers)))
    verifier = local_verifier(state_dir)
    assert [verifier.verify(token).subject for token in tokens] == [
        f"caller-{n}" for n in range(callers)
    ]
    assert [path.name for path in (state_dir / "auth").iterdir()] == ["jwt-signing-key.pem"]
