"""What an outside institution found by trying the API with hostile input: every such
request is answered in the JSON error shape with a 4xx naming the problem, never a 500 from
PostgreSQL, and an unexpected failure is a JSON 500 that leaks nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from chassis.settings import ChassisSettings
from tests.integration.applications import application
from tests.integration.intake.test_kafka_commands import EVENTS, command, send
from tests.kafka_reading import json_records_matching
from tests.running_service import serving

pytestmark = pytest.mark.integration
TEN_MEGABYTES = 10 * 1024 * 1024
LARGEST_SIGNED_BIGINT = 2**63 - 1


async def _submit(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


def _bad_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    return {error["loc"] for error in response.json()["errors"]}


async def test_nul_in_full_name_is_422_naming_the_field(clerk: httpx.AsyncClient) -> None:
    body = application()
    body["applicant"]["full_name"] = "Aysel\x00Mammadova"
    response = await _submit(clerk, body)
    assert _bad_fields(response) == {"applicant.full_name"}
    (error,) = response.json()["errors"]
    assert error["msg"].startswith("must not contain control characters")


async def test_lenient_values_are_all_listed_at_once(clerk: httpx.AsyncClient) -> None:
    body = application(facts={"insurance_years": True})
    body["applicant"].update(full_name="   ", birth_date="1958-03-14T00:00:00")
    assert _bad_fields(await _submit(clerk, body)) == {
        "applicant.full_name",
        "applicant.birth_date",
        "facts.insurance_years",
    }


async def test_full_name_is_kept_without_surrounding_whitespace(
    clerk: httpx.AsyncClient,
) -> None:
    body = application()
    body["applicant"]["full_name"] = "  Aysel Mammadova  "
    response = await _submit(clerk, body)
    assert response.status_code == 202
    case = (await clerk.get(f"/v1/applications/{response.json()['case_id']}")).json()
    assert case["application"]["applicant"]["full_name"] == "Aysel Mammadova"


async def test_nul_in_a_withdrawal_reason_is_422_and_the_case_stays_open(
    clerk: httpx.AsyncClient,
) -> None:
    case_id = (await _submit(clerk, application())).json()["case_id"]
    response = await clerk.post(
        f"/v1/applications/{case_id}/withdraw", json={"reason": "moved\x00abroad"}
    )
    assert _bad_fields(response) == {"reason"}
    assert (await clerk.get(f"/v1/applications/{case_id}")).json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/applications/%00"),
        ("GET", "/v1/applications/case%0A1"),
        ("POST", "/v1/applications/%00/withdraw"),
    ],
    ids=["nul", "newline", "withdraw-nul"],
)
async def test_control_character_in_an_intake_case_id_is_422_naming_it(
    clerk: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await clerk.request(method, path)
    assert response.headers["content-type"] == "application/json"
    assert _bad_fields(response) == {"path.case_id"}


async def test_case_id_longer_than_200_characters_is_422(clerk: httpx.AsyncClient) -> None:
    assert _bad_fields(await clerk.get(f"/v1/applications/{'c' * 201}")) == {"path.case_id"}


async def test_control_character_in_any_query_value_is_422_naming_it(
    clerk: httpx.AsyncClient,
) -> None:
    response = await clerk.get("/v1/applications", params={"page_size": 1, "center": "a\x00b"})
    assert _bad_fields(response) == {"query.center"}


async def test_tab_in_the_idempotency_key_is_422_naming_it(clerk: httpx.AsyncClient) -> None:
    response = await clerk.post(
        "/v1/applications", json=application(), headers={"Idempotency-Key": "key\tone"}
    )
    assert _bad_fields(response) == {"header.Idempotency-Key"}


async def test_correlation_id_longer_than_an_event_holds_is_422(
    clerk: httpx.AsyncClient, caseworker: httpx.AsyncClient
) -> None:
    case_id = (await _submit(clerk, application())).json()["case_id"]
    too_long = {"X-Correlation-Id": "c" * 201}
    withdrawal = await clerk.post(f"/v1/applications/{case_id}/withdraw", headers=too_long)
    assert _bad_fields(withdrawal) == {"header.X-Correlation-Id"}
    decision = await caseworker.post(
        f"/v1/reviews/{case_id}/decision", json={"outcome": "approve"}, headers=too_long
    )
    assert _bad_fields(decision) == {"header.X-Correlation-Id"}


async def test_control_character_in_a_review_case_id_is_422(
    caseworker: httpx.AsyncClient,
) -> None:
    response = await caseworker.post("/v1/reviews/%00/decision", json={"outcome": "approve"})
    assert response.headers["content-type"] == "application/json"
    assert _bad_fields(response) == {"path.case_id"}


async def test_nul_in_a_review_note_is_422_naming_it(caseworker: httpx.AsyncClient) -> None:
    response = await caseworker.post(
        f"/v1/reviews/{uuid.uuid4()}/decision", json={"outcome": "approve", "note": "ok\x00"}
    )
    assert _bad_fields(response) == {"note"}


@pytest.mark.parametrize(
    "page", [LARGEST_SIGNED_BIGINT, 2**64, 100_001], ids=["bigint-max", "beyond-bigint", "100001"]
)
async def test_page_beyond_any_real_search_is_422(clerk: httpx.AsyncClient, page: int) -> None:
    response = await clerk.get("/v1/applications", params={"page": page})
    assert _bad_fields(response) == {"query.page"}


async def test_review_queue_page_beyond_any_real_queue_is_422(
    caseworker: httpx.AsyncClient,
) -> None:
    response = await caseworker.get("/v1/reviews", params={"page": LARGEST_SIGNED_BIGINT})
    assert _bad_fields(response) == {"query.page"}


def _huge_application() -> bytes:
    body = application()
    body["applicant"]["full_name"] = "A" * TEN_MEGABYTES
    return json.dumps(body).encode()


def _assert_payload_too_large(response: httpx.Response, started: float) -> None:
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "262144 bytes" in response.json()["detail"]
    assert time.monotonic() - started < 10


async def test_ten_megabyte_body_with_content_length_is_413(clerk: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await clerk.post(
        "/v1/applications",
        content=_huge_application(),
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
    )
    _assert_payload_too_large(response, started)


async def test_ten_megabyte_chunked_body_is_413(clerk: httpx.AsyncClient) -> None:
    payload = _huge_application()

    async def chunks() -> AsyncIterator[bytes]:
        for offset in range(0, len(payload), 65_536):
            yield payload[offset : offset + 65_536]

    started = time.monotonic()
    response = await clerk.post(
        "/v1/applications",
        content=chunks(),
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    _assert_payload_too_large(response, started)


async def test_submit_command_with_nul_in_full_name_is_rejected_naming_it(
    settings: ChassisSettings, intake_url: str
) -> None:
    data = application()
    data["applicant"]["full_name"] = "Aysel\x00Mammadova"
    sent = command(data)
    await send(settings, json.dumps(sent).encode())
    (rejection,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        lambda event: event.get("causationid") == sent["id"],
    )
    assert rejection["type"] == "dost.intake.SubmissionRejected.v1"
    assert "data.applicant.full_name" in {error["loc"] for error in rejection["data"]["errors"]}


failing = APIRouter()


@failing.get("/v1/failing")
async def fail() -> None:
    raise RuntimeError("relation intake.events: value 5ZK7PQM violates a constraint")


@pytest.fixture
async def failing_service_url(settings: ChassisSettings, schema: str) -> AsyncIterator[str]:
    runtime = ServiceRuntime(name="failing", settings=settings, schema=schema)
    app = create_service_app(runtime, title="failing", description="raises", routers=[failing])
    async with serving(app) as base_url:
        yield base_url


async def test_unexpected_error_is_a_json_500_that_leaks_nothing_and_is_measured(
    failing_service_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=failing_service_url) as client:
        response = await client.get("/v1/failing")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "internal_error"
    assert set(body) == {"error", "detail", "trace_id"}
    assert len(body["trace_id"]) == 32
    int(body["trace_id"], 16)
    assert "5ZK7PQM" not in response.text
    assert "RuntimeError" not in response.text
    assert any(
        line.startswith("dost_http_request_duration_seconds_count")
        and 'route="/v1/failing"' in line
        and 'status="500"' in line
        for line in metrics.splitlines()
    )
