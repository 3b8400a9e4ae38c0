"""Transaction-scoped advisory locks: serialise work on one thing (a person, a stream of
positions) without locking any table. Held until the transaction ends."""

from __future__ import annotations

import hashlib

from chassis.database import Connection


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same in every process and release)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_until_commit(connection: Connection, name: str) -> None:
    """Wait for, then hold until the transaction ends, the lock called `name`.

    Must run inside a transaction; two transactions locking the same name take turns."""
    if not connection.is_in_transaction():
        raise RuntimeError(f"lock {name!r} needs a transaction to be held until its end")
    await connection.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(name))
