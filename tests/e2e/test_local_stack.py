"""`dost up` brings the whole stack to `ready` and leaves nothing behind when stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chassis.auth import Role, mint_local_token
from deploy.local.processes import free_port, port_in_use

pytestmark = pytest.mark.e2e
SERVICES = ("intake", "eligibility", "payments", "notifications")
CONSOLE = "console"


@pytest.fixture
def stack_ports() -> dict[str, int]:
    return {name: free_port() for name in (*SERVICES, CONSOLE, "postgres", "broker", "smtp", "sms")}


def _start(
    tmp_path: Path, ports: dict[str, int], *arguments: str, command: str = "up"
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DOST_STATE_DIR": str(tmp_path / "state"),
        "DOST_POSTGRES_PORT": str(ports["postgres"]),
        "DOST_BROKER_PORT": str(ports["broker"]),
        "DOST_SMTP_PORT": str(ports["smtp"]),
        "DOST_SMS_PORT": str(ports["sms"]),
        **{f"{name.upper()}_PORT": str(ports[name]) for name in (*SERVICES, CONSOLE)},
    }
    if os.environ.get("DOST_TEST_INFRA") == "containers":
        env.pop("DATABASE_URL", None)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "deploy", command, *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _lines_until_ready(process: subprocess.Popen[str], timeout: float = 150.0) -> Iterator[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"dost up exited with {process.wait()} before ready")
        yield line.rstrip()
        if line.strip() == "ready":
            return
    raise AssertionError("dost up was not ready in time")


def _all_ports_free(ports: dict[str, int], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(port_in_use("127.0.0.1", port) for port in ports.values()):
            return True
        time.sleep(0.2)
    return False


def test_dost_up_reaches_ready_serves_four_services_and_stops_cleanly_on_sigint(
    tmp_path: Path, stack_ports: dict[str, int]
) -> None:
    process = _start(tmp_path, stack_ports)
    try:
        lines = list(_lines_until_ready(process))
        for name in SERVICES:
            assert any(line.startswith(name) and str(stack_ports[name]) in line for line in lines)
        token = mint_local_token(tmp_path / "state", roles=[Role.AUDITOR], subject="auditor-1")
        with httpx.Client(timeout=5) as client:
            for name in SERVICES:
                base = f"http://127.0.0.1:{stack_ports[name]}"
                assert client.get(f"{base}/readyz").json()["status"] == "ready"
                assert client.get(f"{base}/healthz").status_code == 200
                assert client.get(f"{base}/v1/whoami").status_code == 401
                me = client.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {token}"})
                assert me.json() == {"subject": "auditor-1", "roles": ["auditor"]}
                assert client.get(f"{base}/openapi.json").status_code == 200
                assert client.get(f"{base}/asyncapi").json()["asyncapi"].startswith("3.")
                assert "python_info" in client.get(f"{base}/metrics").text
            console = f"http://127.0.0.1:{stack_ports[CONSOLE]}"
            assert client.get(f"{console}/readyz").json()["status"] == "ready"
            assert client.get(f"{console}/sign-in").status_code == 200
            assert client.get(f"{console}/static/console.css").status_code == 200
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)
        assert process.returncode == 0
        assert output.strip().endswith("stopped")
        assert _all_ports_free(stack_ports, timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_killed_dost_up_leaves_no_server_behind(
    tmp_path: Path, stack_ports: dict[str, int]
) -> None:
    process = _start(tmp_path, stack_ports)
    try:
        list(_lines_until_ready(process))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert _all_ports_free(stack_ports), "a server outlived its killed parent"


def test_dost_demo_drives_citizens_through_every_service_and_every_invariant_holds(
    tmp_path: Path, stack_ports: dict[str, int]
) -> None:
    process = _start(tmp_path, stack_ports, "--citizens", "30", command="demo")
    try:
        output, _ = process.communicate(timeout=400)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    lines = output.splitlines()
    assert "ready" in lines
    assert "every invariant holds" in lines
    for table in (
        "Cases by benefit and status",
        "Payment run payment-run-",
        "Messages to citizens",
    ):
        assert any(table in line for line in lines), table
    assert "From submission to the citizen's first message: p50" in output
    assert lines[-1] == "stopped"
    assert _all_ports_free(stack_ports, timeout=5)
    # The local SMTP server took the citizens' e-mails (SMS may wait for the quiet hours),
    # and the bank's statement the demo played was imported from a file.
    emails = (tmp_path / "state" / "messages" / "email.jsonl").read_text().splitlines()
    assert any("təsdiq edildi" in json.loads(line)["text"] for line in emails)
    assert (tmp_path / "state" / "bank" / "camt054-demo.xml").exists()
    # One trace per case across the four services: the clerk's request, eligibility's
    # decision, payments' entitlement and the citizen's messages, sending included.
    traces = _traces_by_case(tmp_path / "state" / "traces")
    whole = [
        case_id
        for case_id, by_trace in traces.items()
        if any(
            {service for service, _ in spans} == set(SERVICES)
            and any(name.startswith("send ") for _, name in spans)
            for spans in by_trace.values()
        )
    ]
    assert len(whole) >= 10, f"{len(whole)} of {len(traces)} cases"


def _traces_by_case(directory: Path) -> dict[str, dict[str, set[tuple[str, str]]]]:
    """case id -> trace id -> (service, span name) of the spans that name the case."""
    found: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for path in directory.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            span = json.loads(line)
            case_id = span["attributes"].get("dost.case_id")
            if case_id:
                service = span["resource"]["attributes"]["service.name"].removeprefix("dost-")
                trace_id = span["context"]["trace_id"]
                found.setdefault(case_id, {}).setdefault(trace_id, set()).add(
                    (service, span["name"])
                )
    return found
