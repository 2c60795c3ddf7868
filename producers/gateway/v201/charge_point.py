"""OCPP 2.0.1 CSMS handlers: normalise, publish durably, then answer.

The canonical connector of a 2.0.1 event is its EVSE (one car per EVSE); evse_id is set too.
TransactionEvent Updated/Ended often omit `evse`: the gateway remembers which EVSE a transaction
started on, and when it cannot know, publishes connector 0 for the stream processor to resolve by
transaction id.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action, AuthorizationStatusEnumType, RegistrationStatusEnumType

from producers.gateway.context import HEARTBEAT_INTERVAL_S, GatewayContext, now_iso
from producers.gateway.guard import GuardedRouting, on
from producers.gateway.normalize import NormalizationError, station_boot
from producers.gateway.v201.normalize import (
    evse_of_201,
    fault_notices_201,
    transaction_event_201,
    transaction_event_key_201,
)
from schemas.events import Heartbeat, MeterValues, StatusChange

ACCEPTED = {"status": AuthorizationStatusEnumType.accepted}


class ChargePoint201(GuardedRouting, ChargePoint):  # type: ignore[misc]
    source = "ocpp2.0.1"
    version = "2.0.1"

    def __init__(self, station_id: str, connection: Any, ctx: GatewayContext) -> None:
        super().__init__(station_id, connection)
        self.ctx = ctx

    @on(Action.boot_notification)
    async def on_boot(
        self, charging_station: dict[str, Any], reason: str, call_unique_id: str, **_kw: Any
    ) -> call_result.BootNotification:
        boot = station_boot(
            charging_station["vendor_name"],
            charging_station["model"],
            charging_station.get("firmware_version"),
            charging_station.get("serial_number"),
            reason,
            self.ctx.network.metadata(self.id),
        )
        await self.emit(0, self._received_at, call_unique_id, boot)
        return call_result.BootNotification(
            current_time=now_iso(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatusEnumType.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, call_unique_id: str, **_kw: Any) -> call_result.Heartbeat:
        await self.emit(0, self._received_at, call_unique_id, Heartbeat())
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status(
        self, timestamp: str, connector_status: str, evse_id: int, call_unique_id: str, **_kw: Any
    ) -> call_result.StatusNotification:
        # Status as sent (Available/Occupied/Reserved/Unavailable/Faulted); the EVSE is the canonical
        # connector, so the EVSE's own connectorId is not part of the event.
        at = await self.station_time(timestamp, "StatusNotification")
        await self.emit(evse_id, at, call_unique_id, StatusChange(connector_status), evse_id=evse_id)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_kw: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=ACCEPTED)

    @on(Action.transaction_event)
    async def on_transaction_event(self, call_unique_id: str, **p: Any) -> call_result.TransactionEvent:
        at = await self.station_time(p["timestamp"], "TransactionEvent")
        id_token = p.get("id_token")
        try:
            ev = transaction_event_201(p, self.ctx.hash_id_token(id_token["id_token"] if id_token else None))
        except NormalizationError as exc:
            await self.reject("TransactionEvent", str(exc))
        evse = evse_of_201(p)
        if evse is not None:
            self.ctx.transactions.put(self.id, ev.transaction_id, evse)
        else:
            evse = self.ctx.transactions.get(self.id, ev.transaction_id)
        await self.emit(
            evse if evse is not None else 0,
            at,
            call_unique_id,
            ev,
            evse_id=evse,
            event_key=transaction_event_key_201(ev.transaction_id, p["seq_no"]),
        )
        # idTokenInfo is required in the answer whenever the request carried an idToken.
        return call_result.TransactionEvent(id_token_info=ACCEPTED if id_token else None)

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], call_unique_id: str, **_kw: Any
    ) -> call_result.MeterValues:
        samples = await self.samples(meter_value, "MeterValues")
        at = samples[0].sampled_at if samples else self._received_at
        await self.emit(evse_id, at, call_unique_id, MeterValues(samples), evse_id=evse_id)
        return call_result.MeterValues()

    # Messages real stations send routinely that carry nothing for the pipeline: acknowledged (a
    # CallError would make stations retry them forever), not published.
    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_kw: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    @on(Action.security_event_notification)
    async def on_security_event(self, **_kw: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, **_kw: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, **_kw: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.notify_report)
    async def on_notify_report(self, **_kw: Any) -> call_result.NotifyReport:
        return call_result.NotifyReport()

    @on(Action.notify_event)
    async def on_notify_event(
        self, event_data: list[dict[str, Any]], call_unique_id: str, **_kw: Any
    ) -> call_result.NotifyEvent:
        try:
            notices = fault_notices_201(event_data)
        except NormalizationError as exc:
            await self.reject("NotifyEvent", str(exc))
        # One event per eventData, in order (sequential awaits keep Kafka's order the frame's order).
        for i, (at, evse, notice) in enumerate(notices):
            connector = evse if evse is not None else 0
            await self.emit(
                connector, at, call_unique_id, notice, evse_id=evse, event_key=f"{call_unique_id}#{i}"
            )
        return call_result.NotifyEvent()
