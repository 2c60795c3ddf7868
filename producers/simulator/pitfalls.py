"""What chargers get wrong (DOMAIN.md "Pitfalls seen in the field"), as per-session rates. Pure.

Each rate is the probability that a session is affected; 0 disables a pitfall. The names are
what the ground truth lists in a session's `pitfalls`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Pitfalls:
    duplicate_start: float = 0.02  # 1: StartTransaction re-sent after a lost response
    missing_stop: float = 0.02  # 2: no StopTransaction; Available (or the next session) closes it
    offline: float = 0.01  # 3: transaction messages queued, replayed hours late, in order
    late_update: float = 0.02  # 4: an Updated / meter value of the transaction after its Ended
    relative_meter_values: float = 0.01  # 5: lifetime meterStart, session-relative MeterValues
    meter_start_zero: float = 0.01  # 5: meterStart = 0, lifetime MeterValues
    register_reset: float = 0.01  # 6: the register drops to 0 mid-session and counts on
    meter_stop_below_last: float = 0.02  # 7
    kwh_units: float = 0.05  # 8: values as kWh strings
    phase_values: float = 0.05  # 9: L1/L2/L3 registers beside the total
    repeated_samples: float = 0.03  # 10: transactionData repeats samples already sent
    clock_skew: float = 0.02  # 11: station clock minutes off
    clock_1970: float = 0.005  # 11: lost RTC, times since boot from 1970 until a time sync
    clock_local_time: float = 0.01  # 11: local wall time labelled UTC
    status_skip: float = 0.03  # 12: Charging → Available without SuspendedEV/Finishing
    zero_energy: float = 0.03  # 13: plugged in, nothing delivered
    short_session: float = 0.03  # 13: under 2 minutes

    @classmethod
    def none(cls) -> Pitfalls:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    @classmethod
    def only(cls, **rates: float) -> Pitfalls:
        return replace(cls.none(), **rates)

    def scaled(self, factor: float) -> Pitfalls:
        return Pitfalls(**{f.name: min(1.0, getattr(self, f.name) * factor) for f in fields(self)})

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))

    def draw(self, rng: random.Random) -> tuple[str, ...]:
        """The pitfalls of one session, without combinations that would contradict each other.

        One draw per field, always (so rates don't shift the random stream of other pitfalls)."""
        chosen = [f.name for f in fields(self) if rng.random() < getattr(self, f.name)]
        return compatible(chosen)


PITFALL_NAMES = tuple(f.name for f in fields(Pitfalls))
PRESETS = {"none": Pitfalls.none(), "moderate": Pitfalls(), "heavy": Pitfalls().scaled(5)}

# first named wins over the others in its group
_EXCLUSIVE = (
    ("zero_energy", "short_session"),
    ("relative_meter_values", "meter_start_zero"),
    ("clock_skew", "clock_1970", "clock_local_time"),
)
# a pitfall on the left makes the ones on the right impossible or meaningless
_DROPS = {
    "zero_energy": {
        "register_reset",
        "meter_stop_below_last",
        "repeated_samples",
        "relative_meter_values",
        "meter_start_zero",
        "kwh_units",
        "phase_values",
        "late_update",
        "status_skip",
    },
    "short_session": {"register_reset", "relative_meter_values", "meter_start_zero"},
    "missing_stop": {"meter_stop_below_last", "repeated_samples", "late_update"},
    "relative_meter_values": {"register_reset", "meter_stop_below_last"},
    "meter_start_zero": {"register_reset"},
}


def compatible(chosen: list[str]) -> tuple[str, ...]:
    keep = list(chosen)
    for group in _EXCLUSIVE:
        present = [p for p in group if p in keep]
        keep = [p for p in keep if p not in present[1:]]
    for p, dropped in _DROPS.items():
        if p in keep:
            keep = [q for q in keep if q not in dropped]
    return tuple(keep)


def parse_rates(specs: list[str], base: Pitfalls) -> Pitfalls:
    """`name=rate` overrides (from the CLI) on top of a preset."""
    overrides: dict[str, float] = {}
    for spec in specs:
        name, _, rate = spec.partition("=")
        name = name.strip().replace("-", "_")
        if name not in PITFALL_NAMES or not rate:
            raise ValueError(
                f"bad pitfall {spec!r}: use NAME=RATE with NAME one of {', '.join(PITFALL_NAMES)}"
            )
        overrides[name] = float(rate)
    return replace(base, **overrides)
