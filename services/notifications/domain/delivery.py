"""When a message may be sent, and what to do after an attempt: quiet hours for SMS,
retries with exponential back-off and jitter, and the line between a failure worth
retrying and a refusal for good."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notifications.domain.recipients import mask_personal_data


@dataclass(frozen=True)
class QuietHours:
    """A daily window (it may cross midnight) in which no SMS is sent: such messages wait
    for its end, never dropped. `start == end` means no quiet hours."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str = "Asia/Baku") -> QuietHours:
        """`"21:00-09:00"` (seconds allowed: `"21:00:00-09:00:30"`)."""
        start, separator, end = text.partition("-")
        if not separator:
            raise ValueError(f"quiet hours {text!r} are not HH:MM-HH:MM")
        return cls(
            time.fromisoformat(start.strip()), time.fromisoformat(end.strip()), ZoneInfo(zone)
        )

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself outside the window, else the window's end."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off, capped, with "equal jitter" (a wait between half and all of
    it, so retries spread out but never come at once), for at most `max_attempts` attempts
    in all."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)

    def next_attempt(
        self, attempts_made: int, now: datetime, jitter: random.Random | None = None
    ) -> datetime | None:
        """When to try again after `attempts_made` failed attempts; None when out of tries."""
        if attempts_made >= self.max_attempts:
            return None
        ceiling = min(self.cap, self.base * (2 ** min(attempts_made - 1, 20)))
        fraction: float = (jitter or random).uniform(0.5, 1.0)  # spread, never at once
        retry_at: datetime = now + ceiling * fraction
        return retry_at


@dataclass(frozen=True)
class Delivered:
    """The gateway or mail server took the message (or had taken it already)."""

    provider_message_id: str | None
    repeated: bool = False  # the provider refused a repeated key: delivered before


@dataclass(frozen=True)
class Failed:
    """The attempt failed; `permanent` when retrying can never help. The reason is what
    the provider said, with any address or number in it masked (servers echo them)."""

    reason: str
    permanent: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", mask_personal_data(self.reason)[:300])


Outcome = Delivered | Failed
