"""A deterministic simulated fleet: charger events in station-time order, plus ground truth. Pure.

Each connector cycles through sessions: plug in (Preparing), transaction start with the
lifetime register, Charging with periodic meter values, charging done (SuspendedEV), an idle
tail, transaction stop and unplug (Available). Registers are integer Wh, so the true energy
of a session is known exactly.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from schemas.events import (
    ChargerEvent,
    Heartbeat,
    MeterValues,
    Payload,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)

_EVENT_NS = uuid.UUID("0c1e8b57-2f47-4a33-8d8b-73696d2d6576")
BASE_TIME_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z


@dataclass(frozen=True)
class FleetConfig:
    stations: int = 4
    connectors_per_station: int = 2
    sessions_per_connector: int = 3
    meter_interval_s: int = 60
    seed: int = 7
    start_ms: int = BASE_TIME_MS


@dataclass(frozen=True)
class TrueSession:
    station_id: str
    connector_id: int
    plugged_in_at: int
    charging_started_at: int
    charging_ended_at: int
    unplugged_at: int
    energy_wh: int


POWER_KW = (7.4, 11.0, 22.0, 50.0)


class _Emitter:
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.seq = 0
        self.events: list[ChargerEvent] = []

    def emit(self, at: int, connector_id: int, payload: Payload) -> None:
        self.seq += 1
        event_id = str(uuid.uuid5(_EVENT_NS, f"{self.station_id}|{self.seq}"))
        self.events.append(
            ChargerEvent(
                event_id,
                self.station_id,
                connector_id,
                at,
                at,
                "simulator",
                payload,
                message_id=str(self.seq),
            )
        )


def _register_sample(at: int, wh: int, context: str) -> SampledValue:
    return SampledValue(
        sampled_at=at, unit="Wh", value=float(wh), raw_value=str(wh), context=context, raw_unit="Wh"
    )


def _simulate_connector(
    em: _Emitter,
    rng: random.Random,
    cfg: FleetConfig,
    connector_id: int,
    power_kw: float,
    truths: list[TrueSession],
) -> None:
    t = cfg.start_ms + rng.randint(0, 30) * 60_000
    register = rng.randint(100_000, 5_000_000)
    interval = cfg.meter_interval_s * 1000
    for n in range(cfg.sessions_per_connector):
        t += rng.randint(5, 120) * 60_000
        plugged = t
        em.emit(t, connector_id, StatusChange("Preparing"))
        t += rng.randint(10, 90) * 1000
        tx = f"{em.station_id}-{connector_id}-{n}"
        start_register = register
        em.emit(
            t,
            connector_id,
            TransactionEvent(
                "Started",
                tx,
                meter_wh=float(register),
                trigger_reason="Authorized",
                samples=(_register_sample(t, register, "Transaction.Begin"),),
            ),
        )
        em.emit(t, connector_id, StatusChange("Charging"))
        charge_started = t
        target_wh = rng.randint(2_000, 40_000)
        wh_per_ms = power_kw * (0.85 + 0.15 * rng.random()) / 3_600.0  # kW → Wh per ms
        delivered = 0
        while delivered < target_wh:
            step = min(interval, max(1, int((target_wh - delivered) / wh_per_ms)))
            t += step
            inc = min(target_wh - delivered, max(1, round(wh_per_ms * step)))
            delivered += inc
            register += inc
            power_w = round(inc / step * 3_600_000)
            em.emit(
                t,
                connector_id,
                MeterValues(
                    (
                        _register_sample(t, register, "Sample.Periodic"),
                        SampledValue(
                            sampled_at=t,
                            unit="W",
                            value=float(power_w),
                            raw_value=str(power_w),
                            measurand="Power.Active.Import",
                            raw_unit="W",
                        ),
                    ),
                    transaction_id=tx,
                ),
            )
        charge_ended = t
        em.emit(t, connector_id, StatusChange("SuspendedEV"))
        t += rng.choice((0, 5, 20, 45, 90, 180)) * 60_000 + rng.randint(0, 59) * 1000
        em.emit(
            t,
            connector_id,
            TransactionEvent(
                "Ended",
                tx,
                meter_wh=float(register),
                stopped_reason="EVDisconnected",
                samples=(_register_sample(t, register, "Transaction.End"),),
            ),
        )
        em.emit(t, connector_id, StatusChange("Finishing"))
        t += rng.randint(5, 60) * 1000
        em.emit(t, connector_id, StatusChange("Available"))
        truths.append(
            TrueSession(
                em.station_id,
                connector_id,
                plugged,
                charge_started,
                charge_ended,
                t,
                register - start_register,
            )
        )


def simulate(cfg: FleetConfig) -> tuple[list[ChargerEvent], list[TrueSession]]:
    """All events of the fleet in station-time order (stable per station), and the true sessions."""
    rng = random.Random(cfg.seed)
    per_station: list[list[ChargerEvent]] = []
    truths: list[TrueSession] = []
    for s in range(cfg.stations):
        em = _Emitter(f"SIM-{cfg.seed}-{s:04d}")
        power = POWER_KW[s % len(POWER_KW)]
        em.emit(cfg.start_ms, 0, StationBoot("chargestream", f"SIM-{int(power)}kW", "1.0.0"))
        for c in range(1, cfg.connectors_per_station + 1):
            em.emit(cfg.start_ms, c, StatusChange("Available"))
        per_connector: list[list[ChargerEvent]] = []
        for c in range(1, cfg.connectors_per_station + 1):
            sub = _Emitter(em.station_id)
            sub.seq = c * 1_000_000  # event ids stay unique per station
            _simulate_connector(sub, rng, cfg, c, power, truths)
            per_connector.append(sub.events)
        merged = list(heapq.merge(em.events, *per_connector, key=lambda e: e.station_time))
        last = merged[-1].station_time if merged else cfg.start_ms
        hb = _Emitter(em.station_id)
        hb.seq = 999_000_000
        hb.emit(last + 60_000, 0, Heartbeat())
        per_station.append(merged + hb.events)
    events = list(heapq.merge(*per_station, key=lambda e: e.station_time))
    return events, truths


def iter_truth_lines(truths: list[TrueSession]) -> Iterator[dict[str, object]]:
    for t in truths:
        yield {"kind": "session", **t.__dict__}
