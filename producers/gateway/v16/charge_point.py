"""OCPP 1.6J central-system handlers: normalise, publish durably, then answer."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

from producers.gateway.context import HEARTBEAT_INTERVAL_S, GatewayContext, now_iso
from producers.gateway.guard import GuardedRouting, on
from producers.gateway.normalize import station_boot
from producers.gateway.v16.transactions import connector_of_transaction_16, transaction_id_16
from schemas.events import Heartbeat, MeterValues, SampledValue, StatusChange, TransactionEvent


class ChargePoint16(GuardedRouting, ChargePoint):  # type: ignore[misc]
    source = "ocpp1.6"
    version = "1.6"

    def __init__(self, station_id: str, connection: Any, ctx: GatewayContext) -> None:
        super().__init__(station_id, connection)
        self.ctx = ctx

    @on(Action.boot_notification)
    async def on_boot(
        self, charge_point_vendor: str, charge_point_model: str, call_unique_id: str, **kw: Any
    ) -> call_result.BootNotification:
        boot = station_boot(
            charge_point_vendor,
            charge_point_model,
            kw.get("firmware_version"),
            kw.get("charge_point_serial_number"),
            None,
            self.ctx.network.metadata(self.id),
        )
        await self.emit(0, self._received_at, call_unique_id, boot)
        return call_result.BootNotification(
            current_time=now_iso(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, call_unique_id: str) -> call_result.Heartbeat:
        await self.emit(0, self._received_at, call_unique_id, Heartbeat())
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status(
        self, connector_id: int, error_code: str, status: str, call_unique_id: str, **kw: Any
    ) -> call_result.StatusNotification:
        at = await self.station_time(kw.get("timestamp"), "StatusNotification")
        payload = StatusChange(status, error_code, kw.get("vendor_error_code"), kw.get("info"))
        await self.emit(connector_id, at, call_unique_id, payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    async def on_start(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        call_unique_id: str,
        **_kw: Any,
    ) -> call_result.StartTransaction:
        at = await self.station_time(timestamp, "StartTransaction")
        start_wh = await self.register_wh(meter_start, "meterStart")
        tx = transaction_id_16(self.id, connector_id, at, meter_start, self._received_at)
        self.ctx.transactions.put(self.id, str(tx), connector_id)
        begin = SampledValue(at, "Wh", start_wh, str(meter_start), context="Transaction.Begin")
        payload = TransactionEvent(
            "Started",
            str(tx),
            id_token_hash=self.ctx.hash_id_token(id_tag),
            meter_wh=start_wh,
            samples=(begin,),
        )
        await self.emit(connector_id, at, call_unique_id, payload)
        return call_result.StartTransaction(
            transaction_id=tx, id_tag_info={"status": AuthorizationStatus.accepted}
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        call_unique_id: str,
        transaction_id: int | None = None,
        **_kw: Any,
    ) -> call_result.MeterValues:
        samples = await self.samples(meter_value, "MeterValues")
        at = samples[0].sampled_at if samples else self._received_at
        tx = None if transaction_id is None else str(transaction_id)
        await self.emit(connector_id, at, call_unique_id, MeterValues(samples, tx))
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop(
        self, meter_stop: int, timestamp: str, transaction_id: int, call_unique_id: str, **kw: Any
    ) -> call_result.StopTransaction:
        at = await self.station_time(timestamp, "StopTransaction")
        stop_wh = await self.register_wh(meter_stop, "meterStop")
        samples = await self.samples(kw.get("transaction_data") or [], "StopTransaction")
        # StopTransaction names no connector: this gateway may remember it, else the id carries it
        # (0 = unknown: the stream processor resolves it by transaction id).
        known = self.ctx.transactions.get(self.id, str(transaction_id))
        connector = known if known is not None else connector_of_transaction_16(transaction_id)
        payload = TransactionEvent(
            "Ended",
            str(transaction_id),
            stopped_reason=kw.get("reason") or "Local",
            id_token_hash=self.ctx.hash_id_token(kw.get("id_tag")),
            meter_wh=stop_wh,
            samples=samples,
        )
        await self.emit(connector, at, call_unique_id, payload)
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_kw: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")
