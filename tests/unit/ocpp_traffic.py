"""Charging sessions as real chargers send them, generated freely (not by our simulator): OCPP 1.6
and 2.0.1 payloads turned into canonical events by the gateway's own normalisation.

What varies: the register's start and rises in milli-Wh, sampling intervals, each reading's unit
(Wh or kWh) and decimals, the charger's rounding (down, half up, up: one firmware rounds one way),
a charge that ends with the last rising sample and the "charging stopped" status at one instant,
idle samples that repeat the register at another resolution, a stop with or without repeated
transactionData, a Transaction.End reading sent before or after the stop, and the order of every
group of events that share a timestamp.

The truth is what the transaction itself states: 1.6 bills meterStop - meterStart, 2.0.1 the
Transaction.End reading minus the Transaction.Begin reading; idle runs from the end of charging to
the unplug (Available).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from producers.gateway.normalize import event_id, meter_values
from producers.gateway.v201.normalize import transaction_event_201
from schemas.events import ChargerEvent, Payload, StationBoot, StatusChange, TransactionEvent
from schemas.events import MeterValues as MeterValuesEvent

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z
S = 1_000
MIN = 60 * S
ROUNDINGS = (ROUND_FLOOR, ROUND_HALF_UP, ROUND_CEILING)


@dataclass(frozen=True)
class Reading:
    """How one register value is written: unit, decimals, and the charger's rounding."""

    kwh: bool
    decimals: int
    rounding: str = ROUND_HALF_UP

    def text(self, mwh: int) -> str:
        wh = Decimal(mwh) / 1000
        value = wh / 1000 if self.kwh else wh
        return str(value.quantize(Decimal(1).scaleb(-self.decimals), rounding=self.rounding))

    def mwh(self, m: int) -> int:
        """The value this reading says, in milli-Wh."""
        return int(Decimal(self.text(m)) * (1_000_000 if self.kwh else 1_000))

    @property
    def unit(self) -> str:
        return "kWh" if self.kwh else "Wh"


readings = st.one_of(
    st.builds(Reading, st.just(False), st.integers(0, 3)),
    st.builds(Reading, st.just(True), st.integers(3, 6)),
)


@dataclass(frozen=True)
class Plan:
    """One session on connector 1 of one station, as the charger lives it."""

    version: str
    start_mwh: int
    rises_mwh: tuple[int, ...]  # per sampling interval while charging
    interval_ms: int
    idle_ms: int  # plugged in after the last rise
    idle_samples: int
    styles: tuple[Reading, ...]  # cycled over the samples
    integer_rounding: str  # 1.6 meterStart / meterStop
    repeat_in_stop: bool
    end_reading: str  # "none" | "before_stop" | "after_stop"
    unplug_after_ms: int
    offset_ms: int

    @property
    def plugged_at(self) -> int:
        return T0 + self.offset_ms

    @property
    def charge_from(self) -> int:
        return self.plugged_at + 20 * S

    @property
    def charge_end(self) -> int:
        return self.charge_from + len(self.rises_mwh) * self.interval_ms

    @property
    def stop_at(self) -> int:
        return self.charge_end + self.idle_ms

    @property
    def unplugged_at(self) -> int:
        return self.stop_at + self.unplug_after_ms

    @property
    def end_mwh(self) -> int:
        return self.start_mwh + sum(self.rises_mwh)

    def integer_wh(self, mwh: int) -> int:
        return int((Decimal(mwh) / 1000).quantize(Decimal(1), rounding=self.integer_rounding))

    def style(self, i: int) -> Reading:
        return self.styles[i % len(self.styles)]


@dataclass(frozen=True)
class Truth:
    energy_wh: int
    plugged_in_at: int
    charging_ended_at: int
    unplugged_at: int

    @property
    def idle_minutes(self) -> float:
        return (self.unplugged_at - self.charging_ended_at) / MIN


@st.composite
def plans(draw: st.DrawFn, version: str | None = None) -> Plan:
    interval = draw(st.sampled_from([10 * S, 30 * S, MIN, 5 * MIN, 15 * MIN]))
    rounding = draw(st.sampled_from(ROUNDINGS))
    # at least 2 Wh (visible at any resolution drawn), at most what 22 kW delivers in an interval
    top = 22_000 * interval // 3_600
    rises = draw(st.lists(st.integers(2_000, top), min_size=1, max_size=24))
    idle = draw(st.sampled_from([0, 30 * S, 15 * MIN, 47 * MIN, 3 * 60 * MIN]))
    return Plan(
        version=version or draw(st.sampled_from(["1.6", "2.0.1"])),
        start_mwh=draw(st.integers(0, 10**9)),
        rises_mwh=tuple(rises),
        interval_ms=interval,
        idle_ms=idle,
        idle_samples=draw(st.integers(0, 3)) if idle else 0,
        styles=tuple(
            Reading(r.kwh, r.decimals, rounding) for r in draw(st.lists(readings, min_size=1, max_size=3))
        ),
        integer_rounding=rounding,
        repeat_in_stop=draw(st.booleans()),
        end_reading=draw(st.sampled_from(["none", "before_stop", "after_stop"])),
        unplug_after_ms=draw(st.sampled_from([0, 2 * S, 40 * S])),
        offset_ms=draw(st.integers(0, 24 * 60)) * MIN,
    )


def truth(plan: Plan) -> Truth:
    if plan.version == "1.6":
        energy_mwh = (plan.integer_wh(plan.end_mwh) - plan.integer_wh(plan.start_mwh)) * 1000
    else:
        energy_mwh = _end_style(plan).mwh(plan.end_mwh) - plan.style(0).mwh(plan.start_mwh)
    return Truth((energy_mwh + 500) // 1000, plan.plugged_at, plan.charge_end, plan.unplugged_at)


def _end_style(plan: Plan) -> Reading:
    return plan.style(len(plan.rises_mwh) + plan.idle_samples + 1)


class _Out:
    def __init__(self, station_id: str, source: str) -> None:
        self.station_id, self.source, self.events = station_id, source, []
        self.n = itertools.count()

    def add(self, at: int, payload: Payload, connector: int = 1, key: str | None = None) -> None:
        msg = f"m{next(self.n)}"
        self.events.append(
            ChargerEvent(
                event_id(self.station_id, key or msg),
                self.station_id,
                connector,
                at,
                at,
                self.source,
                payload,
                message_id=msg,
            )
        )


def _entry(at: int, value: str, unit: str, context: str = "Sample.Periodic") -> dict[str, Any]:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds")
    return {"timestamp": stamp, "sampled_value": [{"value": value, "unit": unit, "context": context}]}


def _entry_201(at: int, value: str, reading: Reading, context: str = "Sample.Periodic") -> dict[str, Any]:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds")
    uom = {"unit": "Wh", "multiplier": 3} if reading.kwh else {"unit": "Wh"}
    number: float | int = float(value) if "." in value else int(value)
    return {
        "timestamp": stamp,
        "sampled_value": [{"value": number, "unit_of_measure": uom, "context": context}],
    }


def render(plan: Plan, station_id: str = "GEN-1") -> list[ChargerEvent]:
    """The session's canonical events, in time order (same-instant events in the charger's order)."""
    return _render_16(plan, station_id) if plan.version == "1.6" else _render_201(plan, station_id)


def _samples(plan: Plan) -> list[tuple[int, int]]:
    """(time, register mWh) of every periodic sample: the rising ones, then the idle repeats."""
    out, reg = [], plan.start_mwh
    for i, rise in enumerate(plan.rises_mwh, 1):
        reg += rise
        out.append((plan.charge_from + i * plan.interval_ms, reg))
    for k in range(1, plan.idle_samples + 1):
        out.append((plan.charge_end + k * plan.idle_ms // (plan.idle_samples + 1), reg))
    return out


def _render_16(plan: Plan, station_id: str) -> list[ChargerEvent]:
    o = _Out(station_id, "ocpp1.6")
    tx = "160001"
    start_int = plan.integer_wh(plan.start_mwh)
    stop_int = plan.integer_wh(plan.end_mwh)
    o.add(plan.plugged_at, StatusChange("Preparing", "NoError"))
    begin = meter_values([_entry(plan.charge_from, str(start_int), "Wh", "Transaction.Begin")], "1.6")
    o.add(plan.charge_from, TransactionEvent("Started", tx, meter_wh=float(start_int), samples=begin))
    o.add(plan.charge_from, StatusChange("Charging", "NoError"))
    for i, (at, reg) in enumerate(_samples(plan), 1):
        r = plan.style(i)
        o.add(at, MeterValuesEvent(meter_values([_entry(at, r.text(reg), r.unit)], "1.6"), tx))
        if at == plan.charge_end and plan.idle_ms:
            o.add(at, StatusChange("SuspendedEV", "NoError"))  # the same instant as the last rise
    end = _end_style(plan)
    end_values = MeterValuesEvent(
        meter_values([_entry(plan.stop_at, end.text(plan.end_mwh), end.unit, "Transaction.End")], "1.6"), tx
    )
    if plan.end_reading == "before_stop":
        o.add(plan.stop_at, end_values)
    data = (
        meter_values(
            [
                _entry(plan.charge_from, str(start_int), "Wh", "Transaction.Begin"),
                _entry(plan.stop_at, str(stop_int), "Wh", "Transaction.End"),
            ],
            "1.6",
        )
        if plan.repeat_in_stop
        else ()
    )
    o.add(
        plan.stop_at,
        TransactionEvent(
            "Ended", tx, stopped_reason="EVDisconnected", meter_wh=float(stop_int), samples=data
        ),
    )
    if plan.end_reading == "after_stop":
        o.add(plan.stop_at, end_values)
    o.add(plan.stop_at, StatusChange("Finishing", "NoError"))
    o.add(plan.unplugged_at, StatusChange("Available", "NoError"))
    return o.events


def _render_201(plan: Plan, station_id: str) -> list[ChargerEvent]:
    o = _Out(station_id, "ocpp2.0.1")
    tx = "c0ffee-0001"
    seq = itertools.count()

    def event(
        at: int, kind: str, trigger: str, state: str | None, entries: list[dict[str, Any]], **info: str
    ) -> None:
        n = next(seq)
        payload = {
            "event_type": kind,
            "timestamp": "",
            "trigger_reason": trigger,
            "seq_no": n,
            "transaction_info": {
                "transaction_id": tx,
                **({"charging_state": state} if state else {}),
                **info,
            },
            "meter_value": entries,
        }
        o.add(at, transaction_event_201(payload, None), key=f"tx:{tx}:{n}")

    first = plan.style(0)
    o.add(plan.plugged_at, StatusChange("Occupied"))
    event(
        plan.plugged_at,
        "Started",
        "CablePluggedIn",
        "EVConnected",
        [_entry_201(plan.plugged_at, first.text(plan.start_mwh), first, "Transaction.Begin")],
    )
    event(plan.charge_from, "Updated", "ChargingStateChanged", "Charging", [])
    for i, (at, reg) in enumerate(_samples(plan), 1):
        r = plan.style(i)
        event(at, "Updated", "MeterValuePeriodic", None, [_entry_201(at, r.text(reg), r)])
        if at == plan.charge_end and plan.idle_ms:
            event(at, "Updated", "ChargingStateChanged", "SuspendedEV", [])  # same instant, own message
    end = _end_style(plan)
    event(
        plan.stop_at,
        "Ended",
        "EVDeparted",
        "EVConnected",
        [_entry_201(plan.stop_at, end.text(plan.end_mwh), end, "Transaction.End")],
        stopped_reason="EVDisconnected",
    )
    o.add(plan.unplugged_at, StatusChange("Available"))
    return o.events


def boot(station_id: str, at: int) -> ChargerEvent:
    """A BootNotification stamped on arrival (1.6 carries no time): the station's newest event."""
    return ChargerEvent(
        event_id(station_id, f"boot-{at}"),
        station_id,
        0,
        at,
        at,
        "ocpp1.6",
        StationBoot("Gen", "G1", "1.0", site_id="north", max_power_kw=22.0),
    )


def same_instant_groups(events: list[ChargerEvent]) -> list[list[ChargerEvent]]:
    groups: dict[int, list[ChargerEvent]] = {}
    for ev in events:
        groups.setdefault(ev.station_time, []).append(ev)
    return [groups[t] for t in sorted(groups)]
