"""What both OCPP versions share: bad frames get a CallError and go to the DLQ, handlers emit events.

(The ocpp library only logs a frame it cannot unpack, and answers nothing.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from ocpp.exceptions import FormatViolationError, GenericError, OCPPError, PropertyConstraintViolationError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on as _on

from producers.gateway import metrics
from producers.gateway.context import GatewayContext, now_ms
from producers.gateway.limits import DROPPED_RESULTS, FRAME_BURST, REFUSED, TokenBucket
from producers.gateway.normalize import NormalizationError, meter_values, parse_time
from schemas.bounds import MAX_REGISTER_WH, MIN_TIME_MS, OutOfBounds, check_payload
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
    _action: str = ""
    _limiter: TokenBucket | None = None
    _received_at: int = 0

    async def route_message(self, raw_msg: str) -> None:
        # Frames are handled one at a time per connection, so these describe the frame being handled.
        self._raw = raw_msg
        self._received_at = now_ms()
        self.ctx.tokens.note(raw_msg)  # before anything can quote it in an error
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            await self.ctx.dead_letter(self.id, raw_msg, _reason(exc))
            uid = call_unique_id(raw_msg)
            if uid is not None:
                await self._send(json.dumps([MessageType.CallError, uid, exc.code, exc.description, {}]))  # type: ignore[attr-defined]
            return
        if msg.message_type_id == MessageType.Call:
            self._action = str(msg.action)
            metrics.MESSAGES.labels(self.version, self._action).inc()
            if not self._bucket.take():
                # Told, not dropped: the station keeps the message and sends it again later.
                REFUSED.labels("rate_limit").inc()
                error = GenericError(
                    description=f"rate limit: {self.ctx.frames_per_second:g} messages/s, retry later"
                )
                await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]
                return
            try:
                await self._handle_call(msg)  # type: ignore[attr-defined]
            except OCPPError as exc:
                await self.ctx.dead_letter(self.id, raw_msg, f"{msg.action}: {_reason(exc)}")
                await self._send(msg.create_call_error(exc).to_json())  # type: ignore[attr-defined]
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            # ocpp queues every result for a call() that may never come; only one we wait for is kept,
            # so what a client sends unasked cannot pile up in memory.
            if self._call_lock.locked() and self._response_queue.empty():  # type: ignore[attr-defined]
                self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]
            else:
                DROPPED_RESULTS.inc()

    @property
    def _bucket(self) -> TokenBucket:
        if self._limiter is None:
            rate = self.ctx.frames_per_second
            self._limiter = TokenBucket(rate, max(FRAME_BURST, 10 * rate))
        return self._limiter

    async def reject(self, action: str, reason: str) -> NoReturn:
        """Schema-valid but meaningless: DLQ the frame and answer FormatViolation."""
        await self.ctx.dead_letter(self.id, self._raw, f"{action}: {reason}")
        raise FormatViolationError(description=f"{action}: {reason}")

    async def out_of_bounds(self, reason: str) -> NoReturn:
        """Schema-valid but physically impossible (connector -1, a register of 10^18 Wh, 1e308 W):
        DLQ the frame and answer PropertyConstraintViolation; nothing is published."""
        await self.ctx.dead_letter(self.id, self._raw, f"{self._action}: out of bounds: {reason}")
        raise PropertyConstraintViolationError(description=f"{self._action}: {reason}")

    async def register_wh(self, value: int, name: str) -> float:
        """An integer register of a 1.6 message (meterStart, meterStop) as Wh, within bounds (a
        400-digit meterStart must not overflow into an internal error)."""
        if not 0 <= value <= MAX_REGISTER_WH:
            shown = str(value) if len(str(value)) <= 24 else f"a {len(str(value))}-digit number"
            await self.out_of_bounds(f"{name} {shown} Wh is outside 0..{MAX_REGISTER_WH:.0e} Wh")
        return float(value)

    async def emit(
        self,
        connector_id: int,
        station_time: int,
        message_id: str,
        payload: Payload,
        evse_id: int | None = None,
        event_key: str | None = None,
    ) -> None:
        try:
            if station_time < MIN_TIME_MS:
                raise OutOfBounds(f"station time {station_time} ms is before 1970")
            check_payload(connector_id, evse_id, payload)
        except OutOfBounds as exc:
            await self.out_of_bounds(str(exc))
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
