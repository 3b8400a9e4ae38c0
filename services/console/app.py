"""Wiring: the pages, the session cookie, the static files, the services client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from services.console import DESCRIPTION, api
from services.console.handlers import Services
from services.console.rendering import Pages
from services.console.session import SignInRequired
from services.console.settings import ConsoleSettings

STATIC = Path(__file__).parent / "static"


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    services = Services(
        settings.intake_url,
        settings.eligibility_url,
        settings.payments_url,
        settings.notifications_url,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.open()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="DOST console",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.pages = Pages()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_key(),
        session_cookie="dost_console",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.https_only,
    )
    app.add_exception_handler(SignInRequired, api.sign_in_first)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        upstream = await services.healthy()
        ready = all(upstream.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "services": upstream},
            status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    return app
