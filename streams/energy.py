"""Delivered energy of one session from its register readings, exact to the Wh. Pure.

Energy is the register's travel: the last reading minus the first, summed over the segments a reset
or a meter swap separates, in integer milli-Wh. Duplicates and repeated samples add nothing, and
the order of readings that share an instant does not matter.

Every reading has a resolution: the place value of its last digit ("109" is 1 Wh, "60.48" 0.01 Wh,
"12.345" kWh 1 Wh). Two readings that differ by less than the coarser resolution are the same
register value written twice (a decimal sample, then the integer ``meterStop`` that rounds or
truncates it), never a reset: a lower one stands only if it is finer, or of the same instant; the
transaction's own readings (``meterStart``, ``meterStop``, a
``Transaction.End`` sample) outrank the samples: they are what the transaction says it billed, and
they are the segment's ends whenever the samples agree with them to within the resolution. Readings
of one instant are taken as one set, so their order never matters.

The repairs, each flagged on the session (DOMAIN.md pitfalls 5-8):

* A lifetime ``meterStart`` with session-relative sample values (0, 512, 1 300 …): the samples are
  put on the lifetime scale (``session_relative_register``).
* ``meterStart = 0`` with lifetime sample values: the start register is unknown; a session-relative
  ``meterStop`` then gives the exact energy, otherwise the energy before the first sample is missing
  (``start_register_unknown``, an estimate).
* A drop of at least the resolution mid-session: a reset to zero when the register fell by more than
  it now shows and the new value is reachable from zero at the rated power (``meter_reset``, its
  value is counted), else a meter swap (counting resumes from the new value, ``meter_swap``).
* A ``meterStop`` below the last reading by the resolution or more is ignored
  (``meter_stop_below_last``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Final

from schemas.events import SampledValue
from streams.compact import fields_reduce

DEFAULT_MAX_POWER_W: Final = 350_000.0  # the largest DC chargers; the bound when the rating is unknown
_SLACK_MWH: Final = 200_000  # 200 Wh of slack on the plausibility bound (clock jitter, rounding)
WH_RESOLUTION_MWH: Final = 1_000  # integer Wh: OCPP 1.6 meterStart / meterStop
_UNIT_RE: Final = re.compile(r"(k?)Wh(?:e(-?\d+))?")


def to_mwh(value: float, unit: str) -> int:
    """An energy register value in integer milli-Wh; canonical units are Wh (kWh tolerated)."""
    scale = 1_000_000 if unit == "kWh" else 1_000
    return round(value * scale)


@cache
def _unit_scale(unit: str) -> int:
    """The power of ten from the reading's unit to Wh ("kWh": 3, "Whe3": 3)."""
    m = _UNIT_RE.fullmatch(unit)
    return 0 if m is None else (3 if m.group(1) else 0) + int(m.group(2) or 0)


def _exponent(text: str) -> int | None:
    """The place value of the last digit written, as a power of ten ("60.48": -2, "109": 0)."""
    text = text.strip()
    if text.isdigit():
        return 0
    whole, dot, decimals = text.partition(".")
    if dot and decimals.isdigit() and whole.lstrip("+-").isdigit():
        return -len(decimals)
    try:
        exponent = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        return None
    return exponent if isinstance(exponent, int) else None


def resolution_mwh(sample: SampledValue) -> int:
    """The place value of a reading's last digit, in milli-Wh (at least 1)."""
    exponent = _exponent(sample.raw_value)
    if exponent is None:
        return WH_RESOLUTION_MWH
    return max(1, round(10.0 ** (exponent + _unit_scale(sample.raw_unit or sample.unit) + 3)))


def register_mwh(sample: SampledValue) -> int | None:
    """The reading in milli-Wh, or None when it carries no number (a signed blob, NaN, inf)."""
    if not math.isfinite(sample.value):
        return None
    return to_mwh(sample.value, sample.unit)


def reachable_mwh(dt_ms: int, max_power_w: float) -> int:
    """The most energy a connector could deliver in ``dt_ms`` at its rated power (plus slack)."""
    return round(max(dt_ms, 0) * max_power_w / 3_600) + _SLACK_MWH


@dataclass(slots=True)
class Meter:
    __reduce__ = fields_reduce

    start_mwh: int | None = None  # meterStart as sent
    start_at: int | None = None
    origin_mwh: int | None = None  # where the current segment started, on the lifetime scale
    last_mwh: int | None = None  # the newest register value, on the lifetime scale
    last_at: int | None = None
    last_res: int = 1
    last_final: bool = False  # the last reading is the transaction's own end reading
    segments_mwh: int = 0  # energy of the segments a reset or swap closed
    stop_mwh: int | None = None  # meterStop, on the lifetime scale
    stop_at: int | None = None
    first_increase_at: int | None = None
    last_increase_at: int | None = None
    relative_samples: bool = False  # samples are session-relative while meterStart is lifetime
    start_unknown: bool = False  # meterStart 0 but samples lifetime: energy before the 1st sample lost
    relative_stop: bool = False  # a session-relative meterStop settles the energy (start_unknown)
    flags: set[str] = field(default_factory=set)

    @property
    def energy_mwh(self) -> int:
        if self.relative_stop and self.stop_mwh is not None:
            return self.stop_mwh
        if self.origin_mwh is None or self.last_mwh is None:
            return 0
        return max(0, self.segments_mwh + self._final_mwh() - self.origin_mwh)

    @property
    def energy_wh(self) -> int:
        return (self.energy_mwh + 500) // 1000  # half up; registers are integer Wh in practice

    @property
    def stop_below_last(self) -> bool:
        """meterStop lower than the samples by more than rounding (DOMAIN.md pitfall 7): ignored."""
        if self.stop_mwh is None or self.last_mwh is None or self.relative_stop:
            return False
        return self.last_mwh - self.stop_mwh >= max(self.last_res, WH_RESOLUTION_MWH)

    @property
    def quality_flags(self) -> set[str]:
        return self.flags | {"meter_stop_below_last"} if self.stop_below_last else self.flags

    def _final_mwh(self) -> int:
        """The segment's end: meterStop when the samples agree with it, else the last sample."""
        last = self.last_mwh if self.last_mwh is not None else 0
        if self.stop_mwh is None or self.stop_below_last:
            return last
        return self.stop_mwh

    def start(self, at: int, mwh: int) -> int:
        """meterStart of the transaction (the first one wins: a re-sent start repeats it)."""
        if self.start_mwh is not None:
            return 0
        before = self.energy_mwh
        self.start_mwh, self.start_at = mwh, at
        if self.last_mwh is None:
            self.origin_mwh = mwh
            self._set_last(at, mwh, WH_RESOLUTION_MWH)
        elif (
            self.segments_mwh == 0
            and self.origin_mwh is not None
            and abs(mwh - self.origin_mwh) < max(self.last_res, WH_RESOLUTION_MWH)
        ):
            self.origin_mwh = mwh  # the transaction's own start reading bounds what it bills
        return self.energy_mwh - before

    def sample(self, at: int, mwh: int, res: int, max_power_w: float, *, final: bool = False) -> int:
        """Absorb a register reading (``final``: the transaction's end reading); returns the change
        of energy it caused (milli-Wh)."""
        if self.stop_at is not None and at > self.stop_at:
            return 0  # after the transaction's end nothing more is delivered to it
        before = self.energy_mwh
        self._sample(at, mwh, res, max_power_w, final)
        delta = self.energy_mwh - before
        if delta > 0:
            if self.first_increase_at is None:
                self.first_increase_at = at
            self.last_increase_at = max(at, self.last_increase_at or at)
        return delta

    def _sample(self, at: int, mwh: int, res: int, max_power_w: float, final: bool) -> None:
        if self.relative_samples and self.start_mwh is not None:
            mwh += self.start_mwh
        if self.last_mwh is None or self.last_at is None or self.origin_mwh is None:
            self.origin_mwh = mwh
            self._set_last(at, mwh, res, final)
            return
        if at < self.last_at:
            return  # an older reading than one already absorbed (a repeat in transactionData)
        # Nothing has moved the register since meterStart (a Transaction.Begin sample repeats it):
        # the next value tells which scale the samples are on.
        first_sample = (
            self.start_mwh is not None
            and self.segments_mwh == 0
            and self.last_mwh == self.start_mwh
            and not (self.relative_samples or self.start_unknown)
        )
        tolerance = max(res, self.last_res)
        reach = reachable_mwh(at - self.last_at, max_power_w)
        rise = mwh - self.last_mwh
        if first_sample and self.start_mwh == 0 and rise > reach:
            # meterStart 0 is session-relative, the samples are lifetime: re-base on this sample.
            # Exact when the sample is from the start itself (a Transaction.Begin reading).
            self.start_unknown = True
            self.flags.add("meter_start_zero" if at == self.start_at else "start_register_unknown")
            self.origin_mwh = mwh
            self._set_last(at, mwh, res, final)
            return
        if abs(rise) < tolerance and not (rise > 0 and at > self.last_at and not self.last_final):
            # The same register value written at another resolution (a later, higher reading is a
            # rise all the same: 2.0.1 numbers lose their trailing zeros, 0.020 kWh reads 0.02).
            if self._outranks(at, mwh, res, final):
                self._set_last(at, mwh, res, final)
            return
        if rise > 0:
            self._set_last(at, mwh, res, final)
            return
        if first_sample and self.start_mwh and mwh <= reachable_mwh(at - (self.start_at or at), max_power_w):
            self.relative_samples = True
            self.flags.add("session_relative_register")
            self._set_last(at, self.start_mwh + mwh, res, final)
            return
        if mwh <= reach and mwh < -rise:
            self.flags.add("meter_reset")  # back to zero, and counting again from there
            self._close_segment(0)
        else:
            self.flags.add("meter_swap")  # a new meter at an arbitrary value: resume from it
            self._close_segment(mwh)
        self._set_last(at, mwh, res, final)

    def _outranks(self, at: int, mwh: int, res: int, final: bool) -> bool:
        """Of two readings of the same register value, which stands (see the module note)."""
        assert self.last_mwh is not None and self.last_at is not None
        same_instant = at == self.last_at
        new = (final, -res, 0 if same_instant else at, -mwh)
        old = (self.last_final, -self.last_res, 0 if same_instant else self.last_at, -self.last_mwh)
        return new > old

    def _set_last(self, at: int, mwh: int, res: int, final: bool = False) -> None:
        self.last_mwh, self.last_res, self.last_final = mwh, res, final
        self.last_at = max(at, self.last_at or at)

    def _close_segment(self, new_origin: int) -> None:
        assert self.origin_mwh is not None and self.last_mwh is not None
        self.segments_mwh += max(0, self.last_mwh - self.origin_mwh)
        self.origin_mwh = new_origin

    def stop(self, at: int, mwh: int, max_power_w: float) -> int:
        """meterStop of the transaction; returns the change of energy it caused (milli-Wh)."""
        before = self.energy_mwh
        origin = self.start_at if self.start_at is not None else at
        self.stop_at = at
        below_samples = self.last_mwh is not None and self.last_mwh - mwh >= max(
            self.last_res, WH_RESOLUTION_MWH
        )
        if self.start_unknown and below_samples and mwh <= reachable_mwh(at - origin, max_power_w):
            # A meterStop below the lifetime samples is session-relative: it settles what they could
            # not (one that agrees with them is on their scale, however small the register).
            self.stop_mwh, self.relative_stop = mwh, True
            self.flags.discard("start_register_unknown")
            self.flags.add("energy_from_meter_stop")
        else:
            if self.relative_samples and self.start_mwh is not None and mwh < self.start_mwh:
                mwh += self.start_mwh
            self.stop_mwh = mwh
            if self.last_mwh is None:
                self.origin_mwh, self.last_mwh, self.last_at = mwh, mwh, at
        delta = self.energy_mwh - before
        if delta > 0:
            self.last_increase_at = max(at, self.last_increase_at or at)
            if self.first_increase_at is None:
                self.first_increase_at = at
        return delta
