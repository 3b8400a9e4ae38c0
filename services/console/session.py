"""Who is signed in, and the CSRF token every form carries. The session lives in a signed,
HttpOnly, SameSite cookie (Starlette's SessionMiddleware); it holds the user's bearer token
for the services, their roles and language, and a random CSRF secret."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

LANGUAGES = ("az", "ru", "en")


@dataclass(frozen=True)
class User:
    subject: str
    roles: tuple[str, ...]
    token: str

    def has_any(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


class SignInRequired(Exception):
    """The page needs a signed-in user: the route answers with the sign-in page."""


def current_user(request: Request) -> User | None:
    session = request.session
    if not session.get("token"):
        return None
    return User(session["subject"], tuple(session.get("roles", ())), session["token"])


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise SignInRequired
    return user


def sign_in(request: Request, subject: str, roles: list[str], token: str) -> None:
    language = request.session.get("language", "az")
    request.session.clear()  # a new session on sign-in: no fixation
    request.session.update(
        {"subject": subject, "roles": roles, "token": token, "language": language}
    )


def sign_out(request: Request) -> None:
    language = request.session.get("language", "az")
    request.session.clear()
    request.session["language"] = language


def language(request: Request) -> str:
    chosen = request.session.get("language", "az")
    return chosen if chosen in LANGUAGES else "az"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless the form carries this session's CSRF token."""
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form is stale or forged: reload it")
