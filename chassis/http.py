"""The HTTP side every service shares: lifespan, open endpoints, JSON errors, auth setup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.specification import AsyncAPI
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.auth import Principal, Role, TokenVerifier, local_verifier, require_roles
from chassis.runtime import ServiceRuntime
from chassis.settings import ChassisSettings
from chassis.telemetry import context_from_traceparent, meter, tracer

_request_duration = meter("dost.http").create_histogram(
    "dost_http_request_duration_seconds", unit="s", description="HTTP request durations"
)

_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_request",
    503: "unavailable",
}


def token_verifier(settings: ChassisSettings) -> TokenVerifier:
    """The OIDC issuer's JWKS when configured, else the local development key."""
    if settings.auth_jwks_url:
        return TokenVerifier(
            jwks_url=settings.auth_jwks_url,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            roles_claim=settings.auth_roles_claim,
        )
    return local_verifier(settings.state_dir, roles_claim=settings.auth_roles_claim)


def error_body(status_code: int, detail: Any, **extra: Any) -> dict[str, Any]:
    """The JSON error shape of every service: `{"error": ..., "detail": ...}`."""
    return {"error": _ERROR_NAMES.get(status_code, "error"), "detail": detail, **extra}


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI errors as `{loc, msg, type}` with dotted locations and no input."""
    shaped = []
    for error in errors:
        loc = [str(part) for part in error["loc"]]
        if loc and loc[0] == "body":
            loc = loc[1:]
        shaped.append({"loc": ".".join(loc) or "body", "msg": error["msg"], "type": error["type"]})
    return shaped


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime of the service that received `request` (for routes)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """A FastAPI app that runs `runtime` in its lifespan and serves `/healthz`, `/readyz`,
    `/metrics` and `/asyncapi` openly; every route in `routers` declares its own roles."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = token_verifier(runtime.settings)

    @app.middleware("http")
    async def trace_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A server span per request, joined to the caller's trace: the events a request
        # causes carry this span's context through the outbox to every other service.
        parent = context_from_traceparent(request.headers.get("traceparent"))
        with tracer("dost.http").start_as_current_span(
            f"{request.method} request", context=parent, kind=SpanKind.SERVER
        ) as span:
            started = time.perf_counter()
            response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", "unmatched")
            span.update_name(f"{request.method} {route}")
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", response.status_code)
            attributes = {"method": request.method, "route": route, "status": response.status_code}
            _request_duration.record(time.perf_counter() - started, attributes)
            return response

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @app.get("/readyz", tags=["operations"], summary="Database and broker are usable")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi", tags=["operations"], summary="AsyncAPI document of the Kafka side")
    async def asyncapi() -> Response:
        document = AsyncAPI(
            runtime.broker, title=f"{title} events", version="1.0.0", description=description
        )
        return Response(document.to_specification().to_json(), media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(error.status_code, error.detail),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body(422, "the request is not valid", errors=field_errors(error.errors())),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.get("/v1/whoami", tags=["operations"], summary="Who the bearer token names")
    async def whoami(
        principal: Annotated[Principal, Depends(require_roles(*Role))],
    ) -> dict[str, Any]:
        return {"subject": principal.subject, "roles": sorted(principal.roles)}

    for router in routers:
        app.include_router(router)
    return app


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run `app` under uvicorn; SIGTERM shuts it down gracefully through the lifespan.

    Access logs are off: request lines can carry personal data in query strings."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
