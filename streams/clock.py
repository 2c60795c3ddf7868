"""Which time an event happened at: the station's clock, unless it is evidently wrong. Pure.

Stations send their own timestamps; the gateway stamps `received_at`. Offline batches legitimately
arrive hours after their station time, so a station time *before* receipt is trusted. A station time
before 2010 (an unset RTC: 1970) or ahead of receipt by more than the tolerance cannot be right:
the receipt time replaces it and the session is flagged.
"""

from __future__ import annotations

from typing import Final

from schemas.events import MINUTE_MS

MIN_PLAUSIBLE_MS: Final = 1_262_304_000_000  # 2010-01-01T00:00:00Z
FUTURE_TOLERANCE_MS: Final = 5 * MINUTE_MS


def effective_time(station_time: int, received_at: int) -> tuple[int, str | None]:
    """The event time to use and, when the station clock was overridden, the quality flag why."""
    if station_time < MIN_PLAUSIBLE_MS:
        return received_at, "clock_unset"
    if station_time > received_at + FUTURE_TOLERANCE_MS:
        return received_at, "clock_ahead"
    return station_time, None


def sample_time(sampled_at: int, event_time: int, station_time: int) -> int:
    """A sample's time, shifted with its event when the event's clock was overridden."""
    if sampled_at < MIN_PLAUSIBLE_MS:
        return event_time
    if event_time != station_time:  # the event's clock was overridden: keep the sample's offset to it
        shifted = event_time + (sampled_at - station_time)
        return shifted if shifted >= MIN_PLAUSIBLE_MS else event_time
    return sampled_at
