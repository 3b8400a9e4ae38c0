"""A service's real app served over loopback HTTP inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from deploy.local.processes import free_port


@contextlib.asynccontextmanager
async def serving(
    app: FastAPI, *, ready_timeout: float = 60.0, wait_until_ready: bool = True
) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) on a free loopback port until the block ends;
    yields its base URL once /readyz answers 200 (or, without `wait_until_ready`, once
    /healthz does)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    # Leave SIGINT/SIGTERM to the test runner.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve())
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            async with asyncio.timeout(ready_timeout):
                while True:
                    if task.done():
                        task.result()
                        raise RuntimeError("the service stopped before it was ready")
                    with contextlib.suppress(httpx.HTTPError):
                        probe = "/readyz" if wait_until_ready else "/healthz"
                        if (await client.get(probe)).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
        yield base_url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
