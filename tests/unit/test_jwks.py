"""Production tokens are verified against the OIDC issuer's JWKS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chassis.auth import AuthenticationError, TokenVerifier

ISSUER = "https://idp.example.gov/realms/dost"


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(issuer_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer_key.public_key()))
    document = json.dumps({"keys": [{**public, "kid": "key-1", "use": "sig", "alg": "RS256"}]})

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()
    thread.join(timeout=5)


def _token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    base = {"iss": ISSUER, "aud": "dost-api", "sub": "u-1", "exp": int(time.time()) + 60}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "key-1"})


def test_token_signed_by_the_issuer_is_accepted_with_its_roles(
    jwks_url: str, issuer_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER, audience="dost-api")
    principal = verifier.verify(_token(issuer_key, roles=["caseworker"]))
    assert principal.subject == "u-1"
    assert principal.roles == frozenset({"caseworker"})


@pytest.mark.parametrize(
    "claims", [{"iss": "https://evil.example"}, {"aud": "other-api"}, {"exp": 1}]
)
def test_wrong_issuer_audience_or_expiry_is_refused(
    jwks_url: str, issuer_key: rsa.RSAPrivateKey, claims: dict[str, object]
) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER, audience="dost-api")
    with pytest.raises(AuthenticationError):
        verifier.verify(_token(issuer_key, **claims))


def test_token_signed_by_another_key_is_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER, audience="dost-api")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthenticationError):
        verifier.verify(_token(stranger))
