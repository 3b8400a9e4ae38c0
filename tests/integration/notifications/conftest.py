"""One notifications service for the files of this folder, with sinks of its own, beside
the session's intake and eligibility (whose events it tells citizens of)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.settings import ChassisSettings
from tests.integration.conftest import RunningService
from tests.integration.notifications.helpers import Notifications, notifications_service


@pytest.fixture(scope="session")
async def notifications(
    settings: ChassisSettings,
    tmp_path_factory: pytest.TempPathFactory,
    intake_service: RunningService,
    eligibility_service: RunningService,
) -> AsyncIterator[Notifications]:
    async with notifications_service(settings, tmp_path_factory.mktemp("messages")) as service:
        yield service
