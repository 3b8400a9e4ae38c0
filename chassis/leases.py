"""Leases: one leader at a time for a piece of background work, with bounded failover.

A lease is a row in `<schema>.leases` with a holder, an expiry and a token. The holder
renews it well before it expires; a holder that stops renewing (its host died, its process
froze, its network was cut) loses it once it expires, to the next process that asks, whose
token is higher. A holder whose database session has ended (its process was killed, the
server closed its connection) loses it at once. Unlike a session advisory lock, which
PostgreSQL keeps until TCP keepalive notices a dead peer (hours with default settings), a
lease bounds the failover time by its time to live. All times are the database's clock.

A holder must check its lease (:meth:`Lease.renew`) before each piece of work and bound that
work by the time the lease has left, so a frozen leader that wakes up stops instead of
working beside its successor.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from chassis.database import Connection, checked_schema


@dataclass
class Lease:
    """The lease called `name` in `schema`, as seen by one would-be holder."""

    schema: str
    name: str
    ttl_seconds: float
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: int | None = None
    _valid_until: float = 0.0  # monotonic time before which the lease is surely still ours

    def __post_init__(self) -> None:
        checked_schema(self.schema)
        if self.ttl_seconds <= 0:
            raise ValueError("a lease needs a positive time to live")

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now, as far as it can tell without asking."""
        return self.token is not None and time.monotonic() < self._valid_until

    def seconds_left(self) -> float:
        """How long the lease surely stays ours without renewing (0 when not held)."""
        return max(self._valid_until - time.monotonic(), 0.0) if self.token is not None else 0.0

    async def acquire(self, connection: Connection) -> bool:
        """Take the lease if it is free, expired or already ours; True if we hold it now."""
        asked = time.monotonic()
        token = await connection.fetchval(
            f"INSERT INTO {self.schema}.leases AS lease"
            " (name, holder, holder_pid, token, expires_at)"
            " VALUES ($1, $2, pg_backend_pid(), 1, now() + make_interval(secs => $3))"
            " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
            " holder_pid = EXCLUDED.holder_pid,"
            " token = CASE WHEN lease.holder = EXCLUDED.holder THEN lease.token"
            " ELSE lease.token + 1 END,"
            " acquired_at = CASE WHEN lease.holder = EXCLUDED.holder THEN lease.acquired_at"
            " ELSE now() END,"
            " expires_at = EXCLUDED.expires_at"
            " WHERE lease.expires_at < now() OR lease.holder = EXCLUDED.holder"
            " OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = lease.holder_pid)"
            " RETURNING token",
            self.name,
            self.holder,
            self.ttl_seconds,
        )
        return self._granted(token, asked)

    async def renew(self, connection: Connection) -> bool:
        """Extend the lease if nobody took it since we got it; False once it is lost."""
        if self.token is None:
            return False
        asked = time.monotonic()
        token = await connection.fetchval(
            f"UPDATE {self.schema}.leases SET expires_at = now() + make_interval(secs => $4),"
            " holder_pid = pg_backend_pid()"
            " WHERE name = $1 AND holder = $2 AND token = $3 RETURNING token",
            self.name,
            self.holder,
            self.token,
            self.ttl_seconds,
        )
        return self._granted(token, asked)

    async def release(self, connection: Connection) -> None:
        """Give the lease up at once, so the next holder need not wait for it to expire."""
        if self.token is not None:
            await connection.execute(
                f"UPDATE {self.schema}.leases SET expires_at = now() - interval '1 second'"
                " WHERE name = $1 AND holder = $2 AND token = $3",
                self.name,
                self.holder,
                self.token,
            )
        self.token = None
        self._valid_until = 0.0

    def _granted(self, token: int | None, asked: float) -> bool:
        if token is None:
            self.token = None
            self._valid_until = 0.0
            return False
        self.token = int(token)
        # Counted from when we asked, not when the answer came: never trust more than we got.
        self._valid_until = asked + self.ttl_seconds
        return True
