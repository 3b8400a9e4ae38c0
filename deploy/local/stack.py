"""`dost up`: the whole local stack in the foreground.

Starts PostgreSQL and the broker (unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point at
existing servers), creates the topics, runs the four services as separate processes,
prints their URLs, then `ready` once every /readyz answers 200. SIGINT or SIGTERM stops
everything, services first, and leaves no process or port behind.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from chassis.auth import ensure_local_signing_key
from chassis.settings import ChassisSettings
from chassis.topics import TopicLayout
from deploy.local.broker import LocalBroker
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import port_in_use, spawn, stop
from deploy.topics import ensure_topics


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SERVICES = (
    ServiceSpec("intake", "services.intake", 8001),
    ServiceSpec("eligibility", "services.eligibility", 8002),
    ServiceSpec("payments", "services.payments", 8003),
    ServiceSpec("notifications", "services.notifications", 8004),
    ServiceSpec("console", "services.console", 8005),
)


LOCAL_BROKER_SETTINGS = {
    # The local broker is a single node that keeps messages in memory and does not support
    # the idempotent producer; a real cluster keeps the defaults (3 copies, 2 in sync,
    # idempotence on).
    "KAFKA_ENABLE_IDEMPOTENCE": "false",
    "KAFKA_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "1",
}


def local_broker_environment() -> dict[str, str]:
    """The settings a service needs to use the local broker, unless the caller set them."""
    return {name: os.environ.get(name, value) for name, value in LOCAL_BROKER_SETTINGS.items()}


class StackError(RuntimeError):
    """The stack could not start (a port taken, a server that would not come up, ...)."""


class LocalStack:
    """The infrastructure and the services, each a child process we stop ourselves."""

    def __init__(
        self,
        state_dir: Path,
        *,
        services: tuple[ServiceSpec, ...] = SERVICES,
        postgres_port: int = 55432,
        broker_port: int = 9092,
        smtp_port: int = 8025,
        sms_port: int = 8026,
        say: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.services = services
        self.postgres_port = postgres_port
        self.broker_port = broker_port
        self.smtp_port = smtp_port
        self.sms_port = sms_port
        self.message_sinks: list[subprocess.Popen[bytes]] = []
        self.say = say
        self.postgres: LocalPostgres | None = None
        self.broker: LocalBroker | None = None
        self.service_processes: dict[str, subprocess.Popen[bytes]] = {}

    def start_infrastructure(self) -> dict[str, str]:
        """Servers and topics; returns the environment the services need."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_local_signing_key(self.state_dir)
        environment = {"DOST_STATE_DIR": str(self.state_dir)}
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            self._check_port_free(self.postgres_port, "PostgreSQL (DOST_POSTGRES_PORT)")
            self.postgres = LocalPostgres(
                self.state_dir / "postgres" / "data", port=self.postgres_port
            )
            # The local broker keeps messages in memory only, so the database starts empty too:
            # otherwise consumers would remember events the topics no longer hold.
            database_url = self.postgres.start(fresh=True)
        environment["DATABASE_URL"] = database_url
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            self._check_port_free(self.broker_port, "the Kafka broker (DOST_BROKER_PORT)")
            self.broker = LocalBroker(self.state_dir / "logs" / "broker.log", port=self.broker_port)
            bootstrap = self.broker.start()
        environment["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        if self.broker is not None:
            environment.update(local_broker_environment())
        layout = TopicLayout.from_settings(ChassisSettings(**environment))  # type: ignore[arg-type]
        asyncio.run(ensure_topics(bootstrap, layout=layout))
        environment.update(self._start_message_sinks())
        return environment

    def _start_message_sinks(self) -> dict[str, str]:
        """A local SMTP server and SMS gateway, unless NOTIFICATIONS_SMTP_HOST /
        NOTIFICATIONS_SMS_GATEWAY_URL point at real ones. What they take is written to
        .dost/messages/{email,sms}.jsonl."""
        environment: dict[str, str] = {}
        messages = self.state_dir / "messages"
        logs = self.state_dir / "logs"
        # Like the database and the broker, the local sinks start empty: a message log of an
        # earlier run would name cases (and rating links) this run's database never had.
        for old in messages.glob("*.jsonl"):
            old.unlink()
        if not os.environ.get("NOTIFICATIONS_SMTP_HOST"):
            self._check_port_free(self.smtp_port, "the local SMTP server (DOST_SMTP_PORT)")
            self.message_sinks.append(
                spawn(
                    [
                        sys.executable,
                        "-m",
                        "deploy.local.mail_server",
                        "--port",
                        str(self.smtp_port),
                        "--log",
                        str(messages / "email.jsonl"),
                    ],
                    log_path=logs / "mail-server.log",
                )
            )
            environment["NOTIFICATIONS_SMTP_HOST"] = "127.0.0.1"
            environment["NOTIFICATIONS_SMTP_PORT"] = str(self.smtp_port)
        if not os.environ.get("NOTIFICATIONS_SMS_GATEWAY_URL"):
            self._check_port_free(self.sms_port, "the local SMS gateway (DOST_SMS_PORT)")
            token = secrets.token_hex(16)
            self.message_sinks.append(
                spawn(
                    [
                        sys.executable,
                        "-m",
                        "deploy.local.sms_gateway",
                        "--port",
                        str(self.sms_port),
                        "--log",
                        str(messages / "sms.jsonl"),
                        "--token",
                        token,
                    ],
                    log_path=logs / "sms-gateway.log",
                )
            )
            environment["NOTIFICATIONS_SMS_GATEWAY_URL"] = (
                f"http://127.0.0.1:{self.sms_port}/v1/messages"
            )
            environment["NOTIFICATIONS_SMS_GATEWAY_TOKEN"] = token
        for port in ([self.smtp_port] if "NOTIFICATIONS_SMTP_HOST" in environment else []) + (
            [self.sms_port] if "NOTIFICATIONS_SMS_GATEWAY_URL" in environment else []
        ):
            self._wait_for_port(port)
        return environment

    def _wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_in_use("127.0.0.1", port):
            for sink in self.message_sinks:
                if sink.poll() is not None:
                    raise StackError(
                        f"a local message server exited; see {self.state_dir / 'logs'}"
                    )
            if time.monotonic() > deadline:
                raise StackError(f"nothing listens on port {port} after {timeout:.0f}s")
            time.sleep(0.1)

    def start_services(self, environment: dict[str, str]) -> None:
        for service in self.services:
            self._check_port_free(service.port, f"service {service.name}")
        # The console calls the other services where this stack runs them.
        urls = {
            f"CONSOLE_{spec.name.upper()}_URL": spec.url
            for spec in self.services
            if spec.name != "console"
        }
        for service in self.services:
            env = {
                **os.environ,
                **environment,
                **urls,
                f"{service.name.upper()}_PORT": str(service.port),
                "PYTHONUNBUFFERED": "1",
            }
            self.service_processes[service.name] = spawn(
                [sys.executable, "-m", service.module],
                log_path=self.state_dir / "logs" / f"{service.name}.log",
                env=env,
                death_signal=signal.SIGTERM,
            )

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        """Poll every /readyz until all answer 200; fail if a service exits first."""
        deadline = time.monotonic() + timeout
        pending = {service.name: service for service in self.services}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, service in list(pending.items()):
                    process = self.service_processes[name]
                    if process.poll() is not None:
                        raise StackError(
                            f"service {name} exited with {process.returncode};"
                            f" see {self.state_dir / 'logs' / (name + '.log')}"
                        )
                    try:
                        if client.get(f"{service.url}/readyz").status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise StackError(
                        f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}"
                    )
                if pending:
                    time.sleep(0.3)

    def exited_service(self) -> str | None:
        """The name of a service that has exited on its own, if any."""
        for name, process in self.service_processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """Services first (they flush their outboxes), then the broker, then PostgreSQL."""
        for process in self.service_processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.service_processes.values():
            stop(process, grace=20.0)
        self.service_processes.clear()
        for sink in self.message_sinks:
            if sink.poll() is None:
                sink.send_signal(signal.SIGTERM)
        for sink in self.message_sinks:
            stop(sink, grace=10.0)
        self.message_sinks.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def _check_port_free(self, port: int, what: str) -> None:
        if port_in_use("127.0.0.1", port):
            raise StackError(f"port {port} for {what} is already in use on 127.0.0.1")


def run_stack(
    state_dir: Path,
    *,
    citizens: int | None = None,
    keep: bool = False,
    seed: int = 2026,
    say: Callable[[str], None] = print,
) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM. With `citizens`, run the
    journey once ready (see :mod:`deploy.journey`) and stop with its verdict, unless
    `keep`. Returns the process exit code."""
    stop_requested = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    verdict: int | None = None
    services = tuple(
        ServiceSpec(
            spec.name, spec.module, int(os.environ.get(f"{spec.name.upper()}_PORT", spec.port))
        )
        for spec in SERVICES
    )
    stack = LocalStack(
        state_dir,
        services=services,
        postgres_port=int(os.environ.get("DOST_POSTGRES_PORT", "55432")),
        broker_port=int(os.environ.get("DOST_BROKER_PORT", "9092")),
        smtp_port=int(os.environ.get("DOST_SMTP_PORT", "8025")),
        sms_port=int(os.environ.get("DOST_SMS_PORT", "8026")),
        say=say,
    )
    try:
        environment = stack.start_infrastructure()
        say(f"postgres      {_redacted_dsn(environment['DATABASE_URL'])}")
        say(f"kafka         {environment['KAFKA_BOOTSTRAP_SERVERS']}")
        stack.start_services(environment)
        for service in stack.services:
            where = "/sign-in" if service.name == "console" else "/docs"
            say(f"{service.name:<13} {service.url}  ({service.url}{where})")
        stack.wait_until_ready()
        say("ready")
        if citizens is not None:
            verdict = _journey(stack, environment, citizens, seed)
            if not keep:
                return verdict
            _where_to_look(stack, say)
        while not stop_requested:
            if (name := stack.exited_service()) is not None:
                say(f"service {name} exited; stopping the stack")
                return 1
            time.sleep(0.5)
        return verdict or 0
    except KeyboardInterrupt:
        if citizens is not None and verdict is None:
            return 130  # the journey was cut short: nothing was checked
        return verdict or 0
    except StackError as error:
        say(f"error: {error}")
        return 1
    finally:
        # Ignore further signals while we clean up, so a second Ctrl-C cannot orphan servers.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        say("stopping")
        stack.stop()
        say("stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _journey(stack: LocalStack, environment: dict[str, str], citizens: int, seed: int) -> int:
    from deploy.journey.drive import Stack
    from deploy.journey.run import run_journey

    urls = {service.name: service.url for service in stack.services}
    settings = ChassisSettings(**environment)  # type: ignore[arg-type]
    return run_journey(
        Stack(
            urls["intake"], urls["eligibility"], urls["payments"], urls["notifications"], settings
        ),
        citizens,
        seed=seed,
    )


def _where_to_look(stack: LocalStack, say: Callable[[str], None]) -> None:
    say("the stack keeps running (Ctrl-C stops it). Where to look:")
    for service in stack.services:
        say(f"  {service.name:<13} {service.url}/docs")
    say(f"  messages      {stack.state_dir / 'messages'}/{{sms,email}}.jsonl")
    say(f"  bank files    {stack.state_dir / 'bank'}")
    say(f"  traces, logs  {stack.state_dir / 'traces'}, {stack.state_dir / 'logs'}")
    say("  a token       .venv/bin/dost token --role auditor")
    console = next((s for s in stack.services if s.name == "console"), None)
    if console is not None:
        say(f"  the console   {console.url}/sign-in (development sign-in: pick a role)")


def _redacted_dsn(dsn: str) -> str:
    scheme, _, rest = dsn.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not at:
        return dsn
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{location}"
