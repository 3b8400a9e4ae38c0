"""The rate limit per channel spaces sends out once its burst is spent."""

from __future__ import annotations

import asyncio

from services.notifications.handlers.dispatch import limiter


async def test_sends_beyond_the_rate_wait_their_turn() -> None:
    loop = asyncio.get_running_loop()
    per_second = 20
    gate = limiter(per_second)
    times: list[float] = []

    async def send() -> None:
        async with gate:
            times.append(loop.time())

    started = loop.time()
    await asyncio.gather(*(send() for _ in range(2 * per_second)))
    # The first second's worth goes at once; the second second's worth takes a second more.
    assert times[-1] - started >= 0.9


async def test_a_rate_below_one_a_second_lets_one_through_then_waits() -> None:
    loop = asyncio.get_running_loop()
    gate = limiter(0.8)
    times: list[float] = []
    started = loop.time()
    for _ in range(2):
        async with gate:
            times.append(loop.time())
    assert times[0] - started < 0.5  # the first is not held back
    assert times[1] - times[0] >= 1.2  # the next waits 1 / 0.8 s
