"""Driver feedback intake: `POST /feedback` (JSON) → Avro on `driver.feedback`, answered after Kafka acked.

Idempotent for clients that retry: a `feedback_id` in the body, or an `Idempotency-Key` header,
gives the same feedback id on every attempt (the record is republished; downstream keeps one per id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from producers.gateway import metrics
from producers.gateway.context import GatewayContext, now_ms
from schemas.events import to_ms
from schemas.records import Feedback
from schemas.topics import DRIVER_FEEDBACK

Category = Literal["cannot-start", "slow", "broken-cable", "blocked-by-idle-car", "payment", "other"]
_FEEDBACK_NS = uuid.UUID("0b7c2f4e-8d4a-4f7e-9a51-666565646263")
log = logging.getLogger(__name__)


class FeedbackIn(BaseModel):
    """The request body. Integers must be JSON integers (no "3", no 3.5, no true)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    station_id: Annotated[str, Field(min_length=1, max_length=64)]
    connector_id: Annotated[int | None, Field(strict=True, ge=0, le=1000)] = None
    rating: Annotated[int | None, Field(strict=True, ge=1, le=5)] = None
    category: Category
    comment: Annotated[str | None, Field(max_length=2000)] = None
    user_ref: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    submitted_at: datetime | None = None
    feedback_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] = None


class FeedbackError(ValueError):
    def __init__(self, fields: list[str], message: str) -> None:
        super().__init__(message)
        self.fields = fields


def parse_feedback(body: bytes) -> FeedbackIn:
    """The validated body, or FeedbackError naming the offending fields."""
    try:
        return FeedbackIn.model_validate_json(body)
    except ValidationError as exc:
        problems = []
        fields = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            fields.append(name)
            problems.append(
                "body is not valid JSON" if err["type"] == "json_invalid" else f"{name}: {err['msg']}"
            )
        raise FeedbackError(fields, "; ".join(problems)) from exc


def feedback_id_for(inp: FeedbackIn, idempotency_key: str | None) -> str:
    """The client's id, else one derived from its Idempotency-Key, else a fresh one."""
    key = (idempotency_key or "").strip() or None
    if inp.feedback_id and key and inp.feedback_id != key:
        raise FeedbackError(["feedback_id"], "feedback_id: differs from the Idempotency-Key header")
    if inp.feedback_id:
        return inp.feedback_id
    if key:
        if len(key) > 255:
            raise FeedbackError(["Idempotency-Key"], "Idempotency-Key: longer than 255 characters")
        return str(uuid.uuid5(_FEEDBACK_NS, f"{inp.station_id}|{key}"))
    return str(uuid.uuid4())


def feedback_record(
    inp: FeedbackIn, feedback_id: str, received_at: int, hash_ref: Callable[[str | None], str | None]
) -> dict[str, Any]:
    """The driver.feedback Avro record: the driver reference only as its HMAC."""
    submitted = inp.submitted_at
    if submitted is not None and submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=UTC)  # like OCPP times: no offset means UTC
    return Feedback(
        feedback_id=feedback_id,
        station_id=inp.station_id,
        connector_id=inp.connector_id,
        rating=inp.rating,
        category=inp.category,
        comment=inp.comment,
        user_ref_hash=hash_ref(inp.user_ref),
        submitted_at=to_ms(submitted) if submitted is not None else received_at,
        received_at=received_at,
    ).to_dict()


def _error(status: int, message: str, fields: list[str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if fields is not None:
        body["fields"] = fields
    return web.json_response(body, status=status)


async def feedback_handler(request: web.Request, ctx: GatewayContext) -> web.Response:
    received_at = now_ms()
    body = await request.read()
    try:
        inp = parse_feedback(body)
        fid = feedback_id_for(inp, request.headers.get("Idempotency-Key"))
    except FeedbackError as exc:
        return _error(400, str(exc), exc.fields)
    record = feedback_record(inp, fid, received_at, ctx.hash_id_token)
    try:
        await ctx.publisher.publish(
            DRIVER_FEEDBACK, inp.station_id.encode(), ctx.codec.encode(DRIVER_FEEDBACK, record)
        )
    except Exception as exc:  # Kafka refused it: the client may retry with the same id
        log.error("feedback %s not stored: %s", fid, exc)
        return _error(503, "feedback not stored, retry later (same feedback_id or Idempotency-Key)")
    metrics.FEEDBACK.inc()
    return web.json_response({"feedback_id": fid}, status=202)
