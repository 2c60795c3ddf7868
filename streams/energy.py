"""Delivered energy of one session from its register readings, exact to the Wh. Pure.

Readings arrive in time order (the station's reorder buffer sees to that). Energy is the sum of the
register's rises, in integer milli-Wh, so duplicates and repeated samples add nothing and every
watt-hour is counted once. The repairs, each flagged on the session (DOMAIN.md pitfalls 5-8):

* A lifetime ``meterStart`` with session-relative sample values (0, 512, 1 300 …): the samples are
  put on the lifetime scale (``session_relative_register``).
* ``meterStart = 0`` with lifetime sample values: the start register is unknown; a session-relative
  ``meterStop`` then gives the exact energy, otherwise the energy before the first sample is missing
  (``start_register_unknown``, an estimate).
* A drop mid-session: a reset to zero when the new value is reachable from zero at the rated power
  (its value is counted), else a meter swap (counting resumes from the new value, ``meter_swap``).
* A ``meterStop`` below the last reading is ignored (``meter_stop_below_last``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

DEFAULT_MAX_POWER_W: Final = 350_000.0  # the largest DC chargers; the bound when the rating is unknown
_SLACK_MWH: Final = 200_000  # 200 Wh of slack on the plausibility bound (clock jitter, rounding)


def to_mwh(value: float, unit: str) -> int:
    """An energy register value in integer milli-Wh; canonical units are Wh (kWh tolerated)."""
    scale = 1_000_000 if unit == "kWh" else 1_000
    return round(value * scale)


def reachable_mwh(dt_ms: int, max_power_w: float) -> int:
    """The most energy a connector could deliver in ``dt_ms`` at its rated power (plus slack)."""
    return round(max(dt_ms, 0) * max_power_w / 3_600) + _SLACK_MWH


@dataclass(slots=True)
class Meter:
    start_mwh: int | None = None  # meterStart as sent
    start_at: int | None = None
    last_mwh: int | None = None  # last reading, on the lifetime scale
    last_at: int | None = None
    energy_mwh: int = 0
    first_increase_at: int | None = None
    last_increase_at: int | None = None
    relative_samples: bool = False  # samples are session-relative while meterStart is lifetime
    start_unknown: bool = False  # meterStart 0 but samples lifetime: energy before the 1st sample lost
    stop_mwh: int | None = None
    flags: set[str] = field(default_factory=set)

    @property
    def energy_wh(self) -> int:
        return (self.energy_mwh + 500) // 1000  # half up; registers are integer Wh in practice

    def start(self, at: int, mwh: int) -> None:
        """meterStart of the transaction; the first one wins (a re-sent start repeats it)."""
        if self.start_mwh is not None:
            return
        self.start_mwh, self.start_at = mwh, at
        if self.last_mwh is None:
            self.last_mwh, self.last_at = mwh, at

    def sample(self, at: int, mwh: int, max_power_w: float) -> int:
        """Absorb a register sample; returns the energy it added (milli-Wh)."""
        if self.relative_samples and self.start_mwh is not None:
            mwh += self.start_mwh
        if self.last_mwh is None or self.last_at is None:
            self.last_mwh, self.last_at = mwh, at
            return 0
        # Nothing has moved the register since meterStart (a Transaction.Begin sample repeats it):
        # the next value tells which scale the samples are on.
        first_sample = (
            self.start_mwh is not None
            and self.energy_mwh == 0
            and self.last_mwh == self.start_mwh
            and not (self.relative_samples or self.start_unknown)
        )
        reach = reachable_mwh(at - self.last_at, max_power_w)
        if mwh >= self.last_mwh:
            rise = mwh - self.last_mwh
            if first_sample and self.start_mwh == 0 and rise > reach:
                # meterStart 0 is session-relative, the samples are lifetime: re-base on this sample.
                # Exact when the sample is from the start itself (a Transaction.Begin reading).
                self.start_unknown = True
                self.flags.add("meter_start_zero" if at == self.start_at else "start_register_unknown")
                self.last_mwh, self.last_at = mwh, at
                return 0
            return self._rise(at, mwh, rise)
        if first_sample and self.start_mwh and mwh <= reachable_mwh(at - (self.start_at or at), max_power_w):
            self.relative_samples = True
            self.flags.add("session_relative_register")
            return self._rise(at, self.start_mwh + mwh, mwh)
        if at < self.last_at:
            return 0  # a late, older reading below a newer one: consistent, nothing new
        if mwh <= reach:
            self.flags.add("meter_reset")  # back to zero, and counting again from there
            return self._rise(at, mwh, mwh)
        self.flags.add("meter_swap")  # a new meter at an arbitrary value: resume from it
        self.last_mwh, self.last_at = mwh, at
        return 0

    def stop(self, at: int, mwh: int, max_power_w: float) -> int:
        """meterStop of the transaction; returns the energy it added (milli-Wh)."""
        self.stop_mwh = mwh
        origin = self.start_at if self.start_at is not None else at
        if self.start_unknown and mwh <= reachable_mwh(at - origin, max_power_w):
            # A session-relative meterStop settles what the lifetime samples could not.
            added = mwh - self.energy_mwh
            self.energy_mwh = mwh
            self.flags.discard("start_register_unknown")
            self.flags.add("energy_from_meter_stop")
            self.last_at = at
            return added
        if self.relative_samples and self.start_mwh is not None and mwh < self.start_mwh:
            mwh += self.start_mwh
        if self.last_mwh is None:
            self.last_mwh, self.last_at = mwh, at
            return 0
        if mwh < self.last_mwh:
            self.flags.add("meter_stop_below_last")
            return 0
        return self._rise(at, mwh, mwh - self.last_mwh)

    def _rise(self, at: int, mwh: int, rise: int) -> int:
        self.last_mwh = mwh
        self.last_at = max(at, self.last_at or at)
        if rise > 0:
            self.energy_mwh += rise
            if self.first_increase_at is None:
                self.first_increase_at = at
            self.last_increase_at = at
        return rise
