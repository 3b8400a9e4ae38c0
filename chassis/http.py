"""The HTTP side every service shares: lifespan, open endpoints, JSON errors, auth setup,
and the limits every request meets (body size, no control characters in paths or queries)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.asyncapi import asyncapi_document
from chassis.auth import Principal, Role, TokenVerifier, local_verifier, require_roles
from chassis.openapi import describe_truthfully
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
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}
log = logging.getLogger(__name__)
# Unicode category Cc (C0, DEL, C1): never part of an id, a code or a search term, and a NUL
# cannot even be sent to PostgreSQL.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


async def reject_control_characters(request: Request) -> None:
    """Dependency of every route: a 422 naming each path parameter or query value (or
    name) holding a control character, before authorization or any handler runs."""
    places = [
        ("path", name)
        for name, value in request.path_params.items()
        if isinstance(value, str) and _CONTROL_CHARACTERS.search(value)
    ]
    places += [
        ("query", _printable(name))
        for name, value in request.query_params.multi_items()
        if _CONTROL_CHARACTERS.search(name) or _CONTROL_CHARACTERS.search(value)
    ]
    if places:
        raise RequestValidationError(
            [
                {
                    "type": "control_characters",
                    "loc": place,
                    "msg": "must not contain control characters",
                }
                for place in dict.fromkeys(places)
            ]
        )


def _printable(text: str) -> str:
    return _CONTROL_CHARACTERS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


class PayloadTooLarge(StarletteHTTPException):
    """The request body is longer than the service reads (answered 413)."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the request body is larger than {max_body_bytes} bytes",
        )


class RequestBodyLimit:
    """ASGI middleware: a body over `max_body_bytes` is answered 413 in the JSON error shape.

    A declared Content-Length over the limit is refused before anything is read; a body
    without one (chunked) is counted chunk by chunk as the app reads it, and reading stops
    at the first chunk past the limit, so an oversized body is never held in memory."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(self.max_body_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _error_response(too_large)(scope, receive, send)
            return
        received = 0
        response_started = False

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise too_large
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_noting_start)
        except PayloadTooLarge:
            # Routes answer it through the HTTPException handler; this catches a reader
            # outside a route.
            if response_started:
                raise
            await _error_response(too_large)(scope, receive, send)


def _error_response(error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        error_body(error.status_code, error.detail),
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


def internal_error_response(request: Request, error: Exception) -> JSONResponse:
    """The 500 answer to an error nothing else handled: logged in full (the log formatter
    masks personal data), told to the client only as a trace id to quote."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("%s %s failed", request.method, route, exc_info=error)
    span_context = trace.get_current_span().get_span_context()
    trace_id = {"trace_id": format(span_context.trace_id, "032x")} if span_context.is_valid else {}
    return JSONResponse(
        error_body(500, "the service could not handle the request", **trace_id),
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


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
    `/metrics` and `/asyncapi` openly; every route in `routers` declares its own roles.

    Every error, a 500 included, is answered in the JSON shape of :func:`error_body`."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(reject_control_characters)],
    )
    app.state.runtime = runtime
    app.state.token_verifier = token_verifier(runtime.settings)
    # Added before the tracing middleware so that it runs inside it: a 413 is traced too.
    app.add_middleware(RequestBodyLimit, max_body_bytes=runtime.settings.http_max_body_bytes)

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
            try:
                response = await call_next(request)
            except Exception as error:  # anything a route let through: a 500, measured too
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                response = internal_error_response(request, error)
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

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Database and broker are usable",
        responses={
            503: {
                "description": "Not ready: the same body, each dependency and problem named.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "not_ready",
                "checks": checks,
                "problems": runtime.topic_problems or [],
            },
            status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "description": "The Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi", tags=["operations"], summary="AsyncAPI document of the Kafka side")
    async def asyncapi() -> dict[str, Any]:
        return service_asyncapi(runtime, title=title, description=description)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        # Only what escapes the tracing middleware itself comes here.
        return internal_error_response(request, error)

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

    from chassis.http_jobs import router as jobs_router

    for router in (*routers, jobs_router):
        app.include_router(router)
    describe_truthfully(app)
    return app


def service_asyncapi(runtime: ServiceRuntime, *, title: str, description: str) -> dict[str, Any]:
    """The service's AsyncAPI document (served at /asyncapi, committed under docs/asyncapi)."""
    return asyncapi_document(
        title=f"{title} events",
        description=description,
        subscriptions=runtime.subscriptions,
        publishes=runtime.published,
    )


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run `app` under uvicorn; SIGTERM shuts it down gracefully through the lifespan.

    Access logs are off: request lines can carry personal data in query strings."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
