"""ReplaySessions → the canonical events a 1.6-like charger would have sent. Pure.

Per session (the order `producers.simulator` uses and `streams.sessions` understands):
Preparing at plug-in, transaction Started with the connector's lifetime register, Charging,
meter values rising linearly to exactly start + energy_wh at the end of charging, SuspendedEV when
charging ended before unplug, then at unplug transaction Ended (EVDisconnected), Finishing and
Available. Like a 1.6 MeterValueSampleInterval, samples come every `meter_interval_s` from plug-in
for the whole transaction (flat after charging: a long idle stay is not a silent one), plus one at
the end of charging. Registers are integers, so the energy is exact.
Per station: a StationBoot with the site metadata and Available per connector before its first
session, a Heartbeat after its last. Event ids are uuid5 of (dataset, row, n): same input, same ids.
"""

from __future__ import annotations

import heapq
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from producers.replay.model import ReplaySession
from schemas.events import (
    MINUTE_MS,
    ChargerEvent,
    Heartbeat,
    MeterValues,
    Payload,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)

SOURCE = "replay"
DEFAULT_METER_INTERVAL_S = 900
REGISTER_BASE_WH = 1_000_000  # a used meter: a zero lifetime register is a pitfall of its own
BOOT_LEAD_MS = MINUTE_MS
HEARTBEAT_LAG_MS = MINUTE_MS
POWER_MEASURAND = "Power.Active.Import"
_EVENT_NS = uuid.UUID("5b0f3c2e-8d1a-4c8e-9f7b-7265706c6179")
VENDORS = {
    "acn": "Caltech ACN",
    "boulder": "City of Boulder",
    "dundee": "ChargePlace Scotland",
    "paloalto": "City of Palo Alto",
}


@dataclass(frozen=True, slots=True)
class Timeline:
    """When energy flowed. No charging phase (both None): a visit that got no energy."""

    charging_started_at: int | None
    charging_ended_at: int | None  # SuspendedEV time, or the unplug when charging lasted that long
    done_known: bool  # the data said when charging finished (else it is assumed to last until unplug)


def timeline(s: ReplaySession) -> Timeline:
    t0, t1 = s.plugged_in_at, s.unplugged_at
    if s.charging_ended_at is not None:
        end, known = s.charging_ended_at, True
    elif s.charging_s is not None:
        end, known = min(t0 + s.charging_s * 1000, t1), True
    else:
        end, known = t1, False
    if end > t0 and (s.energy_wh > 0 or known):
        return Timeline(t0, end, known)
    if s.energy_wh > 0:  # energy but no charging time: it flowed while plugged in (t1 > t0, see parsers)
        return Timeline(t0, t1, False)
    return Timeline(None, None, known)


def transaction_id(s: ReplaySession) -> str:
    return f"{s.dataset}-{s.source_row}"


def _event_id(*parts: object) -> str:
    return str(uuid.uuid5(_EVENT_NS, "|".join(str(p) for p in parts)))


def _register(at: int, wh: int, context: str) -> SampledValue:
    return SampledValue(
        sampled_at=at, unit="Wh", value=float(wh), raw_value=str(wh), context=context, raw_unit="Wh"
    )


def _power(at: int, watts: int) -> SampledValue:
    return SampledValue(
        sampled_at=at,
        unit="W",
        value=float(watts),
        raw_value=str(watts),
        measurand=POWER_MEASURAND,
        raw_unit="W",
    )


def session_events(s: ReplaySession, register_wh: int, meter_interval_s: int) -> list[ChargerEvent]:
    """The events of one session, in station-time order; the register ends at register_wh + energy_wh."""
    events: list[ChargerEvent] = []

    def emit(at: int, payload: Payload) -> None:
        events.append(
            ChargerEvent(
                _event_id(s.dataset, s.source_row, len(events)),
                s.station_id,
                s.connector_id,
                at,
                at,
                SOURCE,
                payload,
            )
        )

    tx = transaction_id(s)
    final_wh = register_wh + s.energy_wh
    tl = timeline(s)
    emit(s.plugged_in_at, StatusChange("Preparing"))
    emit(
        s.plugged_in_at,
        TransactionEvent(
            "Started",
            tx,
            trigger_reason="Authorized" if s.user_ref else "CablePluggedIn",
            id_token_hash=s.user_ref,
            meter_wh=float(register_wh),
            samples=(_register(s.plugged_in_at, register_wh, "Transaction.Begin"),),
        ),
    )
    step_ms = meter_interval_s * 1000
    grid = range(s.plugged_in_at + step_ms, s.unplugged_at, step_ms)  # the whole transaction, as 1.6 samples
    prev_t, prev_wh = s.plugged_in_at, register_wh

    def sample(t: int, wh: int) -> None:
        nonlocal prev_t, prev_wh
        watts = round((wh - prev_wh) * 3_600_000 / (t - prev_t)) if t > prev_t else 0
        emit(t, MeterValues((_register(t, wh, "Sample.Periodic"), _power(t, watts)), transaction_id=tx))
        prev_t, prev_wh = t, wh

    if tl.charging_started_at is not None and tl.charging_ended_at is not None:
        t0, t_end = tl.charging_started_at, tl.charging_ended_at
        emit(t0, StatusChange("Charging"))
        for t in grid:
            if t >= t_end:
                break
            sample(t, register_wh + s.energy_wh * (t - t0) // (t_end - t0))  # linear, whole Wh
        sample(t_end, final_wh)  # exact at the end of charging
        if t_end < s.unplugged_at:
            emit(t_end, StatusChange("SuspendedEV"))
        idle_grid: Iterable[int] = (t for t in grid if t > t_end)
    else:
        idle_grid = grid
    for t in idle_grid:
        sample(t, final_wh)  # a flat register until unplug: the meter keeps reporting
    emit(
        s.unplugged_at,
        TransactionEvent(
            "Ended",
            tx,
            trigger_reason="EVDeparted",
            stopped_reason=s.stop_reason or "EVDisconnected",
            id_token_hash=s.user_ref,
            meter_wh=float(final_wh),
            samples=(_register(s.unplugged_at, final_wh, "Transaction.End"),),
        ),
    )
    emit(s.unplugged_at, StatusChange("Finishing"))
    emit(s.unplugged_at, StatusChange("Available"))
    return events


def _connector_events(sessions: Sequence[ReplaySession], meter_interval_s: int) -> Iterator[ChargerEvent]:
    """One connector's sessions in order, its register only growing from one to the next."""
    register = REGISTER_BASE_WH
    last_unplug: int | None = None
    for s in sessions:
        if last_unplug is not None and s.plugged_in_at < last_unplug:
            raise ValueError(
                f"{s.station_id}/{s.connector_id}: row {s.source_row} plugs in before the previous car left"
            )
        yield from session_events(s, register, meter_interval_s)
        register += s.energy_wh
        last_unplug = s.unplugged_at


def _station_event(
    station_id: str, connector_id: int, at: int, payload: Payload, *key: object
) -> ChargerEvent:
    return ChargerEvent(_event_id(*key), station_id, connector_id, at, at, SOURCE, payload)


def station_events(sessions: Sequence[ReplaySession], meter_interval_s: int) -> Iterator[ChargerEvent]:
    """Every event of one station (all sessions share its station_id) in station-time order."""
    first = min(sessions, key=lambda s: (s.plugged_in_at, s.source_row))
    station = first.station_id
    by_connector: dict[int, list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_connector[s.connector_id].append(s)
    connectors = max(by_connector)
    boot_at = first.plugged_in_at - BOOT_LEAD_MS
    boot = StationBoot(
        vendor=VENDORS.get(first.dataset, first.dataset),
        model=first.station_model or first.dataset,
        firmware_version=SOURCE,
        reason="PowerUp",
        site_id=first.site_id,
        time_zone=first.time_zone,
        latitude=first.latitude,
        longitude=first.longitude,
        max_power_kw=first.max_power_kw,
        connectors=connectors,
    )
    yield _station_event(station, 0, boot_at, boot, first.dataset, station, "boot")
    for c in range(1, connectors + 1):
        yield _station_event(station, c, boot_at, StatusChange("Available"), first.dataset, station, "up", c)
    per_connector = [
        _connector_events(sorted(group, key=lambda s: (s.plugged_in_at, s.source_row)), meter_interval_s)
        for _, group in sorted(by_connector.items())
    ]
    yield from heapq.merge(*per_connector, key=lambda e: e.station_time)
    last = max(s.unplugged_at for s in sessions)
    yield _station_event(
        station, 0, last + HEARTBEAT_LAG_MS, Heartbeat(), first.dataset, station, "heartbeat"
    )


def events_for(
    sessions: Iterable[ReplaySession], meter_interval_s: int = DEFAULT_METER_INTERVAL_S
) -> Iterator[ChargerEvent]:
    """All events, merged across stations by station time (lazy: one session's events at a time)."""
    if meter_interval_s <= 0:
        raise ValueError(f"meter interval must be positive, got {meter_interval_s} s")
    by_station: dict[str, list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_station[s.station_id].append(s)
    streams = [station_events(group, meter_interval_s) for _, group in sorted(by_station.items())]
    return heapq.merge(*streams, key=lambda e: e.station_time)
