"""What both OCPP versions share: bad frames get a CallError and go to the DLQ, handlers emit events.

(The ocpp library only logs a frame it cannot unpack, and answers nothing.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from ocpp.exceptions import FormatViolationError, OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on as _on

from producers.gateway.context import GatewayContext, now_ms
from producers.gateway.normalize import NormalizationError, meter_values, parse_time
from schemas.events import Payload, SampledValue

F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """ocpp's routing decorator, typed (the package ships no type hints)."""
    return cast(Callable[[F], F], _on(action))


def call_unique_id(raw: str) -> str | None:
    """The message id of a frame that did not parse as OCPP, if it can be read at all."""
    try:
        frame = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return None
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1]
    return None


def _reason(exc: OCPPError) -> str:
    """The DLQ reason: the error code and what exactly was wrong (ocpp puts that in details.cause)."""
    cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
    return f"{exc.code}: {cause or exc.description}"


class _RejectedFrames(logging.Filter):
    """ocpp logs every CallError a handler raises with a traceback; the gateway already logged the frame
    (with the reason) when it sent it to the DLQ, so these records are dropped. Other errors stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], OCPPError))


logging.getLogger("ocpp").addFilter(_RejectedFrames())


class GuardedRouting:
    """Mixed in before ocpp's ChargePoint: guarded routing, receive times, and the emit helpers."""

    id: str
    ctx: GatewayContext
    source: str  # ocpp1.6 | ocpp2.0.1
    version: str  # 1.6 | 2.0.1 (normalize's name for it)
    _raw: str = ""
    _received_at: int = 0

    async def route_message(self, raw_msg: str) -> None:
        # Frames are handled one at a time per connection, so these describe the frame being handled.
        self._raw = raw_msg
        self._received_at = now_ms()
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            await self.ctx.dead_letter(self.id, raw_msg, _reason(exc))
            uid = call_unique_id(raw_msg)
            if uid is not None:
                await self._send(json.dumps([MessageType.CallError, uid, exc.code, exc.description, {}]))  # type: ignore[attr-defined]
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)  # type: ignore[attr-defined]
            except OCPPError as exc:
                await self.ctx.dead_letter(self.id, raw_msg, f"{msg.action}: {_reason(exc)}")
                await self._send(msg.create_call_error(exc).to_json())  # type: ignore[attr-defined]
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]

    async def reject(self, action: str, reason: str) -> NoReturn:
        """Schema-valid but meaningless: DLQ the frame and answer FormatViolation."""
        await self.ctx.dead_letter(self.id, self._raw, f"{action}: {reason}")
        raise FormatViolationError(description=f"{action}: {reason}")

    async def emit(
        self,
        connector_id: int,
        station_time: int,
        message_id: str,
        payload: Payload,
        evse_id: int | None = None,
        event_key: str | None = None,
    ) -> None:
        await self.ctx.emit(
            self.id,
            connector_id,
            station_time,
            message_id,
            payload,
            self.source,
            evse_id,
            event_key=event_key,
            received_at=self._received_at or now_ms(),
        )

    async def station_time(self, text: str | None, action: str) -> int:
        """The station's clock for this message; the gateway's when the message carries none."""
        if text is None:
            return self._received_at or now_ms()
        try:
            return parse_time(text)
        except NormalizationError as exc:
            await self.reject(action, str(exc))

    async def samples(self, entries: list[dict[str, Any]], action: str) -> tuple[SampledValue, ...]:
        try:
            return meter_values(entries, self.version)
        except NormalizationError as exc:
            await self.reject(action, str(exc))
