"""Charging curves: power falls with state of charge; energy and time in closed form. Pure.

Power is min(station rating, vehicle peak × taper(SoC)), linear in SoC between the taper's
knots. On a segment where P(s) = a + b·s, dt = capacity · ds / P(s), so both the time to reach
a SoC and the SoC reached after a time have closed forms (log / exp): no numeric integration,
which keeps large fleets fast and the energy exact.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from schemas.events import HOUR_MS

# (SoC, share of the vehicle's peak power)
AC_TAPER = ((0.0, 1.0), (0.95, 1.0), (1.0, 0.7))  # on-board chargers slow down only near full
DC_TAPER = ((0.0, 0.7), (0.1, 1.0), (0.55, 1.0), (0.8, 0.45), (1.0, 0.12))


@dataclass(frozen=True, slots=True)
class Segment:
    s0: float
    s1: float
    p0_w: float  # power at s0
    p1_w: float  # power at s1


def _segments(taper: tuple[tuple[float, float], ...], peak_w: float, cap_w: float) -> list[Segment]:
    out: list[Segment] = []
    for (s0, f0), (s1, f1) in itertools.pairwise(taper):
        p0, p1 = peak_w * f0, peak_w * f1
        cuts = [s0, s1]
        if (p0 - cap_w) * (p1 - cap_w) < 0:  # the vehicle's curve crosses the station's rating
            cuts.insert(1, s0 + (cap_w - p0) / (p1 - p0) * (s1 - s0))
        for a, b in itertools.pairwise(cuts):
            pa = min(cap_w, p0 + (p1 - p0) * (a - s0) / (s1 - s0))
            pb = min(cap_w, p0 + (p1 - p0) * (b - s0) / (s1 - s0))
            out.append(Segment(a, b, pa, pb))
    return out


@dataclass(frozen=True)
class ChargeCurve:
    """One charge from soc_start until energy_wh (an exact integer) has been delivered."""

    capacity_wh: float
    soc_start: float
    energy_wh: int
    segments: tuple[Segment, ...]
    _ends_ms: tuple[float, ...]  # elapsed time at the end of each segment

    @classmethod
    def build(
        cls,
        *,
        dc: bool,
        vehicle_peak_kw: float,
        station_kw: float,
        capacity_wh: float,
        soc_start: float,
        energy_wh: int,
    ) -> ChargeCurve:
        soc_end = soc_start + energy_wh / capacity_wh
        full = _segments(DC_TAPER if dc else AC_TAPER, vehicle_peak_kw * 1000, station_kw * 1000)
        segs = []
        for g in full:
            a, b = max(g.s0, soc_start), min(g.s1, soc_end)
            if b <= a:
                continue
            segs.append(Segment(a, b, _interp(g, a), _interp(g, b)))
        ends, t = [], 0.0
        for g in segs:
            t += _segment_ms(g, capacity_wh)
            ends.append(t)
        return cls(capacity_wh, soc_start, energy_wh, tuple(segs), tuple(ends))

    @property
    def duration_ms(self) -> int:
        return max(1, math.ceil(self._ends_ms[-1])) if self._ends_ms else 1

    def _locate(self, elapsed_ms: float) -> tuple[Segment, float]:
        i = min(bisect.bisect_left(self._ends_ms, elapsed_ms), len(self.segments) - 1)
        return self.segments[i], elapsed_ms - (self._ends_ms[i - 1] if i else 0.0)

    def energy_wh_at(self, elapsed_ms: float) -> int:
        """Whole Wh delivered after elapsed_ms (what an integer register shows), never over the total."""
        if not self.segments or elapsed_ms >= self.duration_ms:
            return self.energy_wh
        if elapsed_ms <= 0:
            return 0
        g, dt = self._locate(elapsed_ms)
        b = (g.p1_w - g.p0_w) / (g.s1 - g.s0)
        h = dt / HOUR_MS
        if abs(b) < 1e-9:
            s = g.s0 + g.p0_w * h / self.capacity_wh
        else:
            s = g.s0 + g.p0_w * (math.exp(b * h / self.capacity_wh) - 1) / b
        wh = (min(s, g.s1) - self.soc_start) * self.capacity_wh
        return max(0, min(self.energy_wh, math.floor(wh + 1e-6)))

    def power_w_at(self, elapsed_ms: float) -> int:
        if not self.segments or elapsed_ms >= self.duration_ms or elapsed_ms < 0:
            return 0
        g, dt = self._locate(elapsed_ms)
        b = (g.p1_w - g.p0_w) / (g.s1 - g.s0)
        h = dt / HOUR_MS
        p = g.p0_w if abs(b) < 1e-9 else g.p0_w * math.exp(b * h / self.capacity_wh)
        return round(p)


def _interp(g: Segment, s: float) -> float:
    return g.p0_w + (g.p1_w - g.p0_w) * (s - g.s0) / (g.s1 - g.s0)


def _segment_ms(g: Segment, capacity_wh: float) -> float:
    if abs(g.p1_w - g.p0_w) < 1e-9:
        return capacity_wh * (g.s1 - g.s0) / g.p0_w * HOUR_MS
    b = (g.p1_w - g.p0_w) / (g.s1 - g.s0)
    return capacity_wh / b * math.log(g.p1_w / g.p0_w) * HOUR_MS
