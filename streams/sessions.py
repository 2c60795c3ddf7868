"""Per-connector session state machine: canonical events in, session records out. Pure.

Walking-skeleton semantics: a session opens when the connector leaves Available (or a
transaction starts), charging phases follow the status, energy is the rise of the
Energy.Active.Import.Register total over the session, and the session closes (emitting the
final billing record) when the connector is Available again. The full pitfall handling
(duplicates, resets, missing stops, idle timers, tariffs) builds on this shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.events import (
    ENERGY_REGISTER,
    ChargerEvent,
    MeterValues,
    SampledValue,
    StatusChange,
    TransactionEvent,
)
from streams.session_records import empty_costs, session_id_for

# 1.6 statuses with a car at the connector, and the 2.0.1 "Occupied".
PLUGGED_STATUSES = frozenset(
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}
)
FREE_STATUSES = frozenset({"Available"})
STATE_BY_STATUS = {
    "Preparing": "plugged",
    "Occupied": "plugged",
    "Charging": "charging",
    "SuspendedEV": "suspended_ev",
    "SuspendedEVSE": "suspended_evse",
    "Finishing": "idle",
}
POWER_MEASURAND = "Power.Active.Import"


@dataclass(slots=True)
class OpenSession:
    session_id: str
    plugged_in_at: int
    state: str = "plugged"
    version: int = 0
    transaction_id: str | None = None
    id_token_hash: str | None = None
    charging_started_at: int | None = None
    charging_ended_at: int | None = None
    first_register_wh: float | None = None
    last_register_wh: float | None = None
    max_power_w: float = 0.0
    stop_reason: str | None = None
    quality_flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ConnectorState:
    station_id: str
    connector_id: int
    session: OpenSession | None = None
    last_status: str | None = None
    watermark: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConnectorState:
        sess = d.get("session")
        return cls(
            station_id=d["station_id"],
            connector_id=d["connector_id"],
            session=OpenSession(**sess) if sess else None,
            last_status=d.get("last_status"),
            watermark=d.get("watermark", 0),
        )


def connector_key(station_id: str, connector_id: int) -> str:
    return f"{station_id}/{connector_id}"


def apply(state: ConnectorState, ev: ChargerEvent) -> tuple[ConnectorState, list[dict[str, Any]]]:
    """Apply one event to a connector; returns its state and the session records to emit.

    The state is updated in place (it is the caller's copy: the table stores it serialised),
    which keeps the per-event cost low on the hot path.
    """
    state.watermark = max(state.watermark, ev.station_time)
    p = ev.payload
    if isinstance(p, StatusChange):
        return _on_status(state, ev, p)
    if isinstance(p, TransactionEvent):
        return _on_transaction(state, ev, p)
    if isinstance(p, MeterValues):
        if state.session is not None:
            _absorb_samples(state.session, p.samples)
        return state, []
    return state, []


def _open(state: ConnectorState, at: int) -> OpenSession:
    return OpenSession(session_id=session_id_for(state.station_id, state.connector_id, at), plugged_in_at=at)


def _on_status(
    state: ConnectorState, ev: ChargerEvent, p: StatusChange
) -> tuple[ConnectorState, list[dict[str, Any]]]:
    state.last_status = p.status
    out: list[dict[str, Any]] = []
    sess = state.session
    if p.status in FREE_STATUSES:
        if sess is not None:
            out.append(_close(state, sess, ev.station_time))
            state.session = None
        return state, out
    if p.status not in PLUGGED_STATUSES:
        return state, out
    if sess is None:
        sess = state.session = _open(state, ev.station_time)
    new_state = STATE_BY_STATUS.get(p.status, sess.state)
    if new_state == "charging" and sess.charging_started_at is None:
        sess.charging_started_at = ev.station_time
    if new_state in ("suspended_ev", "idle") and sess.charging_started_at is not None:
        if sess.charging_ended_at is None:  # Finishing after SuspendedEV: charging ended at the first
            sess.charging_ended_at = ev.station_time
        new_state = "idle"
    elif new_state == "charging":
        sess.charging_ended_at = None
    if new_state != sess.state or sess.version == 0:
        sess.state = new_state
        out.append(_record(state, sess, ev.station_time, final=False))
    return state, out


def _on_transaction(
    state: ConnectorState, ev: ChargerEvent, p: TransactionEvent
) -> tuple[ConnectorState, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    sess = state.session
    if sess is None:
        if p.event_type == "Ended":
            return state, out
        sess = state.session = _open(state, ev.station_time)
        out.append(_record(state, sess, ev.station_time, final=False))
    sess.transaction_id = sess.transaction_id or p.transaction_id
    sess.id_token_hash = sess.id_token_hash or p.id_token_hash
    if p.meter_wh is not None:
        _absorb_register(sess, p.meter_wh)
    _absorb_samples(sess, p.samples)
    if p.event_type == "Ended":
        sess.stop_reason = p.stopped_reason or "Local"
    return state, out


def _absorb_samples(sess: OpenSession, samples: tuple[SampledValue, ...]) -> None:
    for s in samples:
        if s.phase is not None:
            continue  # per-phase values never add to the total
        if s.measurand == ENERGY_REGISTER and s.unit == "Wh":
            _absorb_register(sess, s.value)
        elif s.measurand == POWER_MEASURAND and s.unit == "W":
            sess.max_power_w = max(sess.max_power_w, s.value)


def _absorb_register(sess: OpenSession, wh: float) -> None:
    if sess.first_register_wh is None:
        sess.first_register_wh = wh
    sess.last_register_wh = wh


def _close(state: ConnectorState, sess: OpenSession, at: int) -> dict[str, Any]:
    if sess.charging_started_at is not None and sess.charging_ended_at is None:
        sess.charging_ended_at = at
    sess.state = "closed"
    return _record(state, sess, at, final=True, unplugged_at=at)


def energy_wh(sess: OpenSession) -> int:
    if sess.first_register_wh is None or sess.last_register_wh is None:
        return 0
    return max(0, round(sess.last_register_wh - sess.first_register_wh))


def _minutes(start: int | None, end: int | None) -> float:
    return 0.0 if start is None or end is None else max(0, end - start) / 60000.0


def _record(
    state: ConnectorState, sess: OpenSession, at: int, final: bool, unplugged_at: int | None = None
) -> dict[str, Any]:
    sess.version += 1
    charging_minutes = _minutes(sess.charging_started_at, sess.charging_ended_at)
    idle_minutes = _minutes(sess.charging_ended_at, unplugged_at) if final else 0.0
    return {
        "session_id": sess.session_id,
        "version": sess.version,
        "state": sess.state,
        "is_final": final,
        "station_id": state.station_id,
        "connector_id": state.connector_id,
        "site_id": None,
        "transaction_id": sess.transaction_id,
        "id_token_hash": sess.id_token_hash,
        "tariff_id": None,
        "plugged_in_at": sess.plugged_in_at,
        "charging_started_at": sess.charging_started_at,
        "charging_ended_at": sess.charging_ended_at,
        "unplugged_at": unplugged_at,
        "energy_wh": energy_wh(sess),
        "charging_minutes": charging_minutes,
        "idle_minutes": idle_minutes,
        "max_power_kw": sess.max_power_w / 1000.0,
        **empty_costs(),
        "currency": "EUR",
        "stop_reason": sess.stop_reason if final else None,
        "quality_flags": list(sess.quality_flags),
        "emitted_at": at,
    }
