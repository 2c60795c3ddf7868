"""Events while a station's stream is being put together, and their final form. Pure.

A draft keeps the true time beside what the station stamps and when the gateway receives it, so
pitfalls (clock faults, offline queues) can move one without the other; the ground truth stays
on the true clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from schemas.events import ChargerEvent, MeterValues, Payload, SampledValue, TransactionEvent

EVENT_NS = uuid.UUID("0c1e8b57-2f47-4a33-8d8b-73696d2d6576")
SOURCE = "simulator"


@dataclass(slots=True)
class Draft:
    true_at: int
    connector_id: int
    payload: Payload
    order: int  # generation order within the station: ties keep it
    session: int | None = None  # index of the station's session it belongs to
    station_time: int = -1  # -1: the true time
    received_at: int = -1  # -1: the true time
    queued: bool = False  # OCPP 1.6 stations queue transaction messages while offline, not status
    extra: dict[str, Any] | None = None  # kept beside the event, never serialised (the raw idTag for OCPP)

    def __post_init__(self) -> None:
        if self.station_time == -1:
            self.station_time = self.true_at
        if self.received_at == -1:
            self.received_at = self.true_at

    def shift_clock(self, station_time: int) -> None:
        """Stamp with another station time; samples move by the same offset."""
        offset = station_time - self.station_time
        self.station_time = station_time
        self.payload = shift_samples(self.payload, offset)


def shift_samples(p: Payload, offset: int) -> Payload:
    if not offset or not isinstance(p, MeterValues | TransactionEvent) or not p.samples:
        return p
    samples = tuple(replace(s, sampled_at=s.sampled_at + offset) for s in p.samples)
    return replace(p, samples=samples)


def event_id(station_id: str, message_id: str) -> str:
    return str(uuid.uuid5(EVENT_NS, f"{station_id}|{message_id}"))


def finalize(station_id: str, drafts: list[Draft]) -> list[ChargerEvent]:
    """The station's events in delivery order (gateway receive time, then generation order)."""
    ordered = sorted(drafts, key=lambda d: (d.received_at, d.connector_id, d.order))
    out = []
    for d in ordered:
        message_id = str(d.order)
        out.append(
            ChargerEvent(
                event_id(station_id, message_id),
                station_id,
                d.connector_id,
                d.station_time,
                d.received_at,
                SOURCE,
                d.payload,
                message_id=message_id,
                extra={**(d.extra or {}), "true_at": d.true_at},
            )
        )
    return out


def register_sample(
    at: int, wh: int, context: str, *, kwh: bool = False, phase: str | None = None
) -> SampledValue:
    """An Energy.Active.Import.Register sample; as a kWh string when `kwh` (exact: 3 decimals)."""
    raw = _thousandths(wh) if kwh else str(wh)
    return SampledValue(
        sampled_at=at,
        unit="Wh",
        value=float(wh),
        raw_value=raw,
        context=context,
        phase=phase,
        raw_unit="kWh" if kwh else "Wh",
    )


def power_sample(at: int, w: int, *, kw: bool = False) -> SampledValue:
    return SampledValue(
        sampled_at=at,
        unit="W",
        value=float(w),
        raw_value=_thousandths(w) if kw else str(w),
        measurand="Power.Active.Import",
        raw_unit="kW" if kw else "W",
    )


def _thousandths(n: int) -> str:
    """n / 1000 with exactly three decimals, without float rounding."""
    sign = "-" if n < 0 else ""
    return f"{sign}{abs(n) // 1000}.{abs(n) % 1000:03d}"
