"""OCPP 1.6J central-system handlers: normalise, publish durably, then answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NoReturn

from ocpp.exceptions import FormatViolationError, OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

from producers.gateway.context import GatewayContext, connector_of_transaction_16, transaction_id_16
from producers.gateway.normalize import NormalizationError, meter_values, parse_time
from schemas.events import (
    Heartbeat,
    MeterValues,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)

SOURCE = "ocpp1.6"
HEARTBEAT_INTERVAL_S = 300


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def call_unique_id(raw: str) -> str | None:
    """The message id of a frame that did not parse as OCPP, if it can be read at all."""
    try:
        frame = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return None
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1]
    return None


class GuardedRouting:
    """Bad frames get a CallError and go to the DLQ with the reason; the connection stays up.

    (The ocpp library only logs a frame it cannot unpack, and answers nothing.)"""

    id: str
    ctx: GatewayContext
    _raw: str = ""

    async def route_message(self, raw_msg: str) -> None:
        self._raw = raw_msg  # frames are handled one at a time per connection
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            await self.ctx.dead_letter(self.id, raw_msg, f"{exc.code}: {exc.description}")
            uid = call_unique_id(raw_msg)
            if uid is not None:
                await self._send(json.dumps([MessageType.CallError, uid, exc.code, exc.description, {}]))  # type: ignore[attr-defined]
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)  # type: ignore[attr-defined]
            except OCPPError as exc:
                await self.ctx.dead_letter(self.id, raw_msg, f"{msg.action}: {exc.code}: {exc.description}")
                await self._send(msg.create_call_error(exc).to_json())  # type: ignore[attr-defined]
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]

    async def reject(self, action: str, reason: str) -> NoReturn:
        """Schema-valid but meaningless: DLQ the frame and answer FormatViolation."""
        await self.ctx.dead_letter(self.id, self._raw, f"{action}: {reason}")
        raise FormatViolationError(description=f"{action}: {reason}")


class ChargePoint16(GuardedRouting, ChargePoint):  # type: ignore[misc]
    def __init__(self, station_id: str, connection: Any, ctx: GatewayContext) -> None:
        super().__init__(station_id, connection)
        self.ctx = ctx

    @on(Action.boot_notification)
    async def on_boot(
        self, charge_point_vendor: str, charge_point_model: str, call_unique_id: str, **kw: Any
    ) -> call_result.BootNotification:
        await self.ctx.emit(
            self.id,
            0,
            _now_ms(),
            call_unique_id,
            StationBoot(
                charge_point_vendor,
                charge_point_model,
                kw.get("firmware_version"),
                kw.get("charge_point_serial_number"),
                None,
            ),
            SOURCE,
        )
        return call_result.BootNotification(
            current_time=now_iso(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, call_unique_id: str) -> call_result.Heartbeat:
        await self.ctx.emit(self.id, 0, _now_ms(), call_unique_id, Heartbeat(), SOURCE)
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status(
        self, connector_id: int, error_code: str, status: str, call_unique_id: str, **kw: Any
    ) -> call_result.StatusNotification:
        at = await self._time(kw.get("timestamp"), "StatusNotification")
        await self.ctx.emit(
            self.id,
            connector_id,
            at,
            call_unique_id,
            StatusChange(status, error_code, kw.get("vendor_error_code"), kw.get("info")),
            SOURCE,
        )
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
        at = await self._time(timestamp, "StartTransaction")
        tx = transaction_id_16(self.id, connector_id, timestamp, meter_start)
        await self.ctx.emit(
            self.id,
            connector_id,
            at,
            call_unique_id,
            TransactionEvent(
                "Started",
                str(tx),
                id_token_hash=self.ctx.hash_id_token(id_tag),
                meter_wh=float(meter_start),
                samples=(
                    SampledValue(at, "Wh", float(meter_start), str(meter_start), context="Transaction.Begin"),
                ),
            ),
            SOURCE,
        )
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
        samples = await self._samples(meter_value, "MeterValues")
        at = samples[0].sampled_at if samples else _now_ms()
        await self.ctx.emit(
            self.id,
            connector_id,
            at,
            call_unique_id,
            MeterValues(samples, None if transaction_id is None else str(transaction_id)),
            SOURCE,
        )
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop(
        self, meter_stop: int, timestamp: str, transaction_id: int, call_unique_id: str, **kw: Any
    ) -> call_result.StopTransaction:
        at = await self._time(timestamp, "StopTransaction")
        samples = await self._samples(kw.get("transaction_data") or [], "StopTransaction")
        await self.ctx.emit(
            self.id,
            connector_of_transaction_16(transaction_id),
            at,
            call_unique_id,
            TransactionEvent(
                "Ended",
                str(transaction_id),
                stopped_reason=kw.get("reason") or "Local",
                id_token_hash=self.ctx.hash_id_token(kw.get("id_tag")),
                meter_wh=float(meter_stop),
                samples=samples,
            ),
            SOURCE,
        )
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_kw: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    async def _time(self, text: str | None, action: str) -> int:
        if text is None:
            return _now_ms()
        try:
            return parse_time(text)
        except NormalizationError as exc:
            await self.reject(action, str(exc))

    async def _samples(self, entries: list[dict[str, Any]], action: str) -> tuple[SampledValue, ...]:
        try:
            return meter_values(entries, "1.6")
        except NormalizationError as exc:
            await self.reject(action, str(exc))


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
