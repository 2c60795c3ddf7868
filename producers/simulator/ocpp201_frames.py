"""Canonical events as an OCPP 2.0.1 charging station sends them. Pure (the `ocpp` package's dataclasses).

The simulator's events have the 1.6 shape; a 2.0.1 station says the same things differently, so the
conversion keeps a little state per station: the transaction on each EVSE and its seqNo.
- Connector statuses: Preparing is Occupied; Charging / SuspendedEV / SuspendedEVSE / Finishing are
  charging states of the transaction (TransactionEvent Updated, trigger ChargingStateChanged).
- A fault is StatusNotification Faulted plus NotifyEvent with the error code as techCode (2.0.1
  statuses carry no error code); its end clears the event.
- Start/stop/meter values of a transaction are TransactionEvents; values are numbers with their unit.
- A re-sent Started keeps its seqNo (the same message again, as after a lost response).
Each canonical connector is one EVSE with one connector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias

from ocpp.v201 import call

from producers.simulator.ocpp16_frames import Link, iso
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    MeterValues,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)

Call201: TypeAlias = Any  # an ocpp.v201.call dataclass; the package ships no type hints
CHARGING_STATES = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Finishing": "EVConnected",
}
STATUSES = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Faulted": "Faulted",
    "Unavailable": "Unavailable",
}


def _number(raw: str) -> int | float:
    d = Decimal(raw)
    return int(d) if d == d.to_integral_value() and "." not in raw else float(raw)


def _sampled_value(s: SampledValue) -> dict[str, Any]:
    sv: dict[str, Any] = {"value": _number(s.raw_value), "context": s.context, "measurand": s.measurand}
    if s.raw_unit:
        sv["unit_of_measure"] = {"unit": s.raw_unit}
    if s.phase:
        sv["phase"] = s.phase
    if s.location:
        sv["location"] = s.location
    return sv


def meter_value_entries(samples: tuple[SampledValue, ...]) -> list[dict[str, Any]]:
    entries: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        entries.setdefault(s.sampled_at, []).append(_sampled_value(s))
    return [{"timestamp": iso(at), "sampled_value": svs} for at, svs in entries.items()]


@dataclass
class Converter201:
    """One station's conversion state."""

    seq: dict[str, int] = field(default_factory=dict)  # next seqNo per transaction
    started: dict[str, int] = field(default_factory=dict)  # seqNo of each transaction's Started
    open_tx: dict[int, str] = field(default_factory=dict)  # EVSE → its transaction
    faulted: set[int] = field(default_factory=set)  # EVSEs (0: the station) with an uncleared fault event
    event_ids: int = 0

    def _next_seq(self, tx: str) -> int:
        n = self.seq.get(tx, 0)
        self.seq[tx] = n + 1
        return n

    def _notify(self, ev: ChargerEvent, code: str | None, cleared: bool) -> Call201:
        self.event_ids += 1
        data: dict[str, Any] = {
            "event_id": self.event_ids,
            "timestamp": iso(ev.station_time),
            "trigger": "Delta",
            "actual_value": "false" if cleared else "true",
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": ev.connector_id, "connector_id": 1}}
            if ev.connector_id
            else {"name": "ChargingStation"},
            "variable": {"name": "Problem"},
            "cleared": cleared,
        }
        if code:
            data["tech_code"] = code
        return call.NotifyEvent(generated_at=iso(ev.station_time), seq_no=0, event_data=[data])

    def frames(self, ev: ChargerEvent) -> list[Call201 | Link]:
        p, c, at = ev.payload, ev.connector_id, iso(ev.station_time)
        if isinstance(p, ConnectionChange):
            return [Link.UP if p.connected else Link.DOWN]
        if isinstance(p, StationBoot):
            station: dict[str, Any] = {"model": p.model, "vendor_name": p.vendor}
            if p.firmware_version:
                station["firmware_version"] = p.firmware_version
            if p.serial_number:
                station["serial_number"] = p.serial_number
            return [call.BootNotification(charging_station=station, reason=p.reason or "PowerUp")]
        if isinstance(p, Heartbeat):
            return [call.Heartbeat()]
        if isinstance(p, FaultNotice):
            return [self._notify(ev, p.tech_code, p.cleared)]
        if isinstance(p, StatusChange):
            return self._status(ev, p, at)
        if isinstance(p, MeterValues):
            entries = meter_value_entries(p.samples)
            tx = p.transaction_id
            if tx is None or tx not in self.seq:
                return [call.MeterValues(evse_id=c, meter_value=entries)]
            return [self._tx_event("Updated", tx, at, "MeterValuePeriodic", {}, entries, ev)]
        if isinstance(p, TransactionEvent):
            return [self._transaction(ev, p, at)]
        return []

    def _status(self, ev: ChargerEvent, p: StatusChange, at: str) -> list[Call201 | Link]:
        c = ev.connector_id
        out: list[Call201 | Link] = []
        if p.status in CHARGING_STATES:
            tx = self.open_tx.get(c)
            if tx is not None:
                info = {"charging_state": CHARGING_STATES[p.status]}
                out.append(self._tx_event("Updated", tx, at, "ChargingStateChanged", info, [], ev))
            return out
        if c:
            status = STATUSES.get(p.status, "Unavailable")
            out.append(
                call.StatusNotification(timestamp=at, connector_status=status, evse_id=c, connector_id=1)
            )
        if p.status == "Faulted":
            self.faulted.add(c)
            out.append(self._notify(ev, p.error_code, cleared=False))
        elif c in self.faulted:
            self.faulted.discard(c)
            out.append(self._notify(ev, None, cleared=True))
        return out

    def _transaction(self, ev: ChargerEvent, p: TransactionEvent, at: str) -> Call201:
        tx, c = p.transaction_id, ev.connector_id
        entries = meter_value_entries(p.samples)
        if p.event_type == "Started":
            resend = tx in self.started
            seq = self.started[tx] if resend else self._next_seq(tx)
            self.started[tx] = seq
            self.open_tx[c] = tx
            return call.TransactionEvent(
                event_type="Started",
                timestamp=at,
                trigger_reason=p.trigger_reason or "Authorized",
                seq_no=seq,
                transaction_info={"transaction_id": tx, "charging_state": "EVConnected"},
                meter_value=entries or None,
                offline=p.offline or None,
                evse={"id": c, "connector_id": 1},
                id_token={"id_token": str(ev.extra.get("id_tag") or "UNKNOWN"), "type": "ISO14443"},
            )
        if p.event_type == "Ended":
            if self.open_tx.get(c) == tx:
                del self.open_tx[c]
            trigger = "EVCommunicationLost" if p.stopped_reason == "EVDisconnected" else "StopAuthorized"
            info = {"stopped_reason": p.stopped_reason or "Local", "charging_state": "Idle"}
            return self._tx_event("Ended", tx, at, trigger, info, entries, ev)
        return self._tx_event("Updated", tx, at, p.trigger_reason or "MeterValuePeriodic", {}, entries, ev)

    def _tx_event(
        self,
        event_type: str,
        tx: str,
        at: str,
        trigger: str,
        info: dict[str, Any],
        entries: list[dict[str, Any]],
        ev: ChargerEvent,
    ) -> Call201:
        offline = isinstance(ev.payload, TransactionEvent) and ev.payload.offline
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=at,
            trigger_reason=trigger,
            seq_no=self._next_seq(tx),
            transaction_info={"transaction_id": tx, **info},
            meter_value=entries or None,
            offline=offline or None,
        )
