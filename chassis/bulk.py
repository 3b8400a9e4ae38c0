"""Reading and writing read models in bulk: keyset chunks over a table (no transaction held
open between chunks, no OFFSET), and COPY for loading many rows at once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from chassis.database import Connection, Queryable

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _checked(*names: str) -> None:
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain lower-case identifier")


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    _checked(schema, name)
    return schema, name


async def in_chunks(
    connection: Queryable,
    table: str,
    *,
    key: str,
    columns: Sequence[str],
    where: str = "true",
    arguments: Sequence[Any] = (),
    chunk: int = 1000,
    after: Any = None,
) -> AsyncIterator[list[asyncpg.Record]]:
    """The rows of `table` (`schema.name`) matching `where` (placeholders $1.. for
    `arguments`), ordered by the unique column `key`, `chunk` at a time, starting after
    the key value `after` (None: from the first)."""
    _split(table)
    _checked(key, *columns)
    listed = ", ".join(dict.fromkeys([key, *columns]))
    base = len(arguments)
    first = f"SELECT {listed} FROM {table} WHERE ({where}) ORDER BY {key} LIMIT ${base + 1}"
    following = (
        f"SELECT {listed} FROM {table} WHERE ({where}) AND {key} > ${base + 2}"
        f" ORDER BY {key} LIMIT ${base + 1}"
    )
    last = after
    while True:
        if last is None:
            rows = await connection.fetch(first, *arguments, chunk)
        else:
            rows = await connection.fetch(following, *arguments, chunk, last)
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = rows[-1][key]


async def copy_into(
    connection: Connection, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> int:
    """Load `records` (tuples in the order of `columns`) into `table` with COPY, in the
    caller's transaction; returns how many rows were loaded."""
    schema, name = _split(table)
    _checked(*columns)
    rows = [tuple(record) for record in records]
    if rows:
        await connection.copy_records_to_table(
            name, schema_name=schema, columns=list(columns), records=rows
        )
    return len(rows)
