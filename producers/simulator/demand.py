"""What arriving drivers want (energy, their car's power, how long they stay) and when they come. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass

from producers.simulator import calibration as cal
from producers.simulator.sampling import Copula, from_quantiles, weighted
from schemas.events import MINUTE_MS

BATTERY_KWH = (40.0, 58.0, 77.0, 100.0)  # assumption: a spread of common pack sizes
_ACN = Copula(cal.ACN_CORRELATION)


@dataclass(frozen=True)
class Demand:
    energy_wh: int
    vehicle_peak_kw: float  # AC: the calibrated effective power; DC: the car's peak
    capacity_wh: float
    soc_start: float
    idle_ms: int  # plugged in after charging is done


@dataclass(frozen=True)
class ArrivalProfile:
    per_connector_day: float
    by_hour: tuple[int, ...]  # relative weights of the local hour

    @property
    def peak_factor(self) -> float:
        """max(hour weight) / mean(hour weight): the thinning envelope over the mean rate."""
        return max(self.by_hour) * len(self.by_hour) / sum(self.by_hour)


PROFILES = {
    "AC": ArrivalProfile(cal.DUNDEE_AC_SESSIONS_PER_CONNECTOR_DAY, cal.DUNDEE_AC_ARRIVALS_BY_HOUR),
    "DC": ArrivalProfile(cal.DUNDEE_DC_SESSIONS_PER_CONNECTOR_DAY, cal.DUNDEE_DC_ARRIVALS_BY_HOUR),
}


def _battery(rng: random.Random, energy_wh: int, max_share: float) -> float:
    fits = [c * 1000 for c in BATTERY_KWH if energy_wh <= c * 1000 * max_share]
    return rng.choice(fits) if fits else energy_wh / max_share


def draw(kind: str, rng: random.Random) -> Demand:
    if kind == "AC":
        ue, up, ui = _ACN.uniforms(rng)
        energy = max(cal.MIN_SESSION_ENERGY_WH, round(from_quantiles(cal.ACN_ENERGY_KWH_Q, ue) * 1000))
        peak_kw = from_quantiles(cal.ACN_POWER_KW_Q, up)
        idle_ms = round(from_quantiles(cal.ACN_IDLE_MIN_Q, ui) * MINUTE_MS)
        capacity = _battery(rng, energy, 0.9)
        soc_end = rng.uniform(0.85, 1.0)
    else:
        energy = max(
            cal.MIN_SESSION_ENERGY_WH, round(from_quantiles(cal.DUNDEE_DC_ENERGY_KWH_Q, rng.random()) * 1000)
        )
        peak_kw = weighted(rng, cal.DC_VEHICLE_PEAK_KW)
        idle_ms = min(round(rng.expovariate(1 / cal.DC_IDLE_MEAN_MIN) * MINUTE_MS), 30 * MINUTE_MS)
        capacity = _battery(rng, energy, 0.75)
        soc_end = rng.uniform(0.7, 0.9)
    soc_start = max(0.03, soc_end - energy / capacity)
    return Demand(energy, peak_kw, capacity, soc_start, idle_ms)
