"""An OpenAPI document that tells the truth, so a client generated from it works: the
bearer scheme on every route that needs a token (with the roles it accepts), and every
error a route can answer in the one JSON shape the services really send."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

BEARER = "bearerAuth"  # the scheme :func:`chassis.auth.require_roles` declares


class FieldProblem(BaseModel):
    loc: str = Field(description="Dotted path of the bad field, e.g. `applicant.national_id`.")
    msg: str = Field(description="What is wrong, in plain words.")
    type: str = Field(description="Machine-readable error kind.")


class ErrorBody(BaseModel):
    """The shape of every error a service answers."""

    error: str = Field(
        description="`bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,"
        " `payload_too_large`, `invalid_request`, `internal_error`, `unavailable`."
    )
    detail: Any = Field(description="What went wrong, in plain words.")


class ValidationErrorBody(ErrorBody):
    """A 422: every bad field, each with where it is and what is wrong."""

    errors: list[FieldProblem]


_MEANINGS = {
    "400": "The request is malformed (e.g. a required header is missing).",
    "401": "No bearer token, or one that is not valid.",
    "403": "The token does not carry a role this route accepts.",
    "404": "No such resource.",
    "409": "The request conflicts with the resource's state.",
    "413": "The request body is larger than HTTP_MAX_BODY_BYTES.",
    "422": "The request is not valid: every bad field is listed.",
    "500": "Something went wrong on our side.",
}


def describe_truthfully(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = corrected(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def corrected(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the roles said in words, and the real error bodies."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (FieldProblem, ErrorBody, ValidationErrorBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        schemas[model.__name__] = schema
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            accepted = _roles(operation)
            responses = operation.setdefault("responses", {})
            if accepted is not None:
                operation["description"] = (
                    operation.get("description", "") + f"\n\nRoles: {', '.join(accepted)}."
                ).strip()
                _add(responses, "401")
                _add(responses, "403")
            if "requestBody" in operation:
                _add(responses, "413")
                _add(responses, "422")
            if operation.get("parameters"):
                _add(responses, "422")  # control characters and bounds, checked first
            _add(responses, "500")
            for code, response in responses.items():
                if path in _OWN_BODIES and code in _OWN_BODIES[path]:
                    continue
                if code.startswith(("4", "5")):
                    body = "ValidationErrorBody" if code == "422" else "ErrorBody"
                    response["description"] = response.get("description") or _MEANINGS.get(
                        code, "Error"
                    )
                    if response["description"] in ("Validation Error", "Successful Response"):
                        response["description"] = _MEANINGS.get(code, "Error")
                    response["content"] = {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}
                    }
            _ = path, method
    return document


_OWN_BODIES = {"/readyz": {"503"}}
"""Answers whose body is not an error but the route's own (readiness names each problem)."""


def _add(responses: dict[str, Any], code: str) -> None:
    responses.setdefault(code, {"description": _MEANINGS[code]})


def _roles(operation: dict[str, Any]) -> list[str] | None:
    """The roles the operation's bearer requirement lists; None for an open route."""
    for requirement in operation.get("security", []):
        if BEARER in requirement:
            return sorted(requirement[BEARER])
    return None
