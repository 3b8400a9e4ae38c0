"""The one small library every DOST service uses.

- :mod:`chassis.settings`: settings from the environment.
- :mod:`chassis.database`: the asyncpg pool and per-service schema migrations.
- :mod:`chassis.eventstore`: append-only event streams with optimistic concurrency.
- :mod:`chassis.outbox` and :mod:`chassis.relay`: events leave only after their commit.
- :mod:`chassis.inbox` and :mod:`chassis.consumer`: idempotent, dead-lettering consumers.
- :mod:`chassis.projections`: checkpointed, rebuildable read models.
- :mod:`chassis.telemetry`: traces, metrics, JSON logs without personal data.
- :mod:`chassis.auth`: bearer JWTs with roles.
- :mod:`chassis.runtime` and :mod:`chassis.http`: the pieces a service's `app.py` wires.

The chassis never learns a service's domain.
"""
