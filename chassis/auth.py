"""Bearer JWTs with roles on every endpoint but the open ones.

Production verifies tokens against an OIDC issuer's JWKS (`AUTH_JWKS_URL`, with
`AUTH_ISSUER` and `AUTH_AUDIENCE`). With no JWKS configured, services accept tokens signed
by the local development key under `<state dir>/auth/` (`dost token` mints them).
Missing, malformed, expired or wrongly signed tokens get 401; a wrong role gets 403.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPBearer

LOCAL_ISSUER = "dost-local"
LOCAL_AUDIENCE = "dost"
_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class Role(StrEnum):
    """Who may do what."""

    CLERK = "clerk"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a subject and the roles the token grants."""

    subject: str
    roles: frozenset[str]

    def has_any(self, roles: Iterable[Role | str]) -> bool:
        return any(str(role) in self.roles for role in roles)


class AuthenticationError(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key."""


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; reads roles from a claim."""

    def __init__(
        self,
        *,
        public_key: Any | None = None,
        jwks_url: str | None = None,
        issuer: str | None,
        audience: str | None,
        roles_claim: str = "roles",
    ) -> None:
        if (public_key is None) == (jwks_url is None):
            raise ValueError("give exactly one of public_key or jwks_url")
        self._public_key = public_key
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; :class:`AuthenticationError` otherwise."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._public_key
            claims = jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
            raise AuthenticationError(f"the token is not valid: {error}") from None
        roles = claims.get(self.roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            raise AuthenticationError(f"claim {self.roles_claim!r} is not a list of roles")
        return Principal(subject=str(claims["sub"]), roles=frozenset(str(role) for role in roles))


def local_key_dir(state_dir: Path) -> Path:
    return state_dir / "auth"


def local_secret(state_dir: Path, name: str) -> str:
    """A random development secret kept in `<state_dir>/auth/<name>`, made once (readable
    by the owner only) and the same for every process of the local stack."""
    path = local_key_dir(state_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, secrets.token_hex(32).encode())
        finally:
            os.close(descriptor)
    for _ in range(50):  # another process may be writing it this very moment
        secret = path.read_text().strip()
        if len(secret) == 64:
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} does not hold a secret")


def ensure_local_signing_key(state_dir: Path) -> Path:
    """Create the local development RSA key once (private key readable by the owner only)."""
    directory = local_key_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / "jwt-signing-key.pem"
    if private_path.exists():
        return private_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".key-")
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, pem)
        os.close(descriptor)
        with contextlib.suppress(FileExistsError):  # another process won the race: keep theirs
            os.link(temporary, private_path)
    finally:
        os.unlink(temporary)
    return private_path


def _local_private_key(state_dir: Path) -> Any:
    pem = ensure_local_signing_key(state_dir).read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def local_verifier(state_dir: Path, roles_claim: str = "roles") -> TokenVerifier:
    """A verifier for tokens signed by the local development key."""
    public_key = _local_private_key(state_dir).public_key()
    return TokenVerifier(
        public_key=public_key, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, roles_claim=roles_claim
    )


def mint_local_token(
    state_dir: Path, *, roles: Iterable[Role | str], subject: str, ttl_seconds: int = 8 * 3600
) -> str:
    """A development token the local stack accepts."""
    now = int(time.time())
    claims = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": subject,
        "roles": [str(role) for role in roles],
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, _local_private_key(state_dir), algorithm="RS256")


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing bearer token")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_roles(*roles: Role) -> Callable[[Request], Principal]:
    """FastAPI dependency: the caller's principal, if it holds one of `roles`.

    A plain function, so FastAPI runs it in its thread pool (JWKS fetches are blocking)."""
    allowed = frozenset(roles)

    def authorize(request: Request, _declared: object = None) -> Principal:
        verifier: TokenVerifier = request.app.state.token_verifier
        try:
            principal = verifier.verify(_bearer_token(request))
        except AuthenticationError as error:
            raise _unauthorized(str(error)) from None
        if not principal.has_any(allowed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"requires one of the roles: {', '.join(sorted(allowed))}",
            )
        return principal

    # Declared through FastAPI's own security scheme, so the OpenAPI document names the
    # bearer scheme and the roles (OpenAPI 3.1 lets a non-OAuth requirement list roles).
    # The token itself is read and checked above, with our errors.
    authorize.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(
                "_declared",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=Security(BEARER_SCHEME, scopes=sorted(role.value for role in allowed)),
            ),
        ],
        return_annotation=Principal,
    )
    return authorize


BEARER_SCHEME = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    auto_error=False,
    description="An OIDC access token (JWKS in production; `dost token` locally) whose roles"
    " claim holds one of the roles the route lists.",
)
