"""POST /feedback: 202 after Kafka acked, Avro on driver.feedback; 400 names the field."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from schemas.codec import EmbeddedCodec
from schemas.network import NetworkConfig
from schemas.topics import DRIVER_FEEDBACK
from tests.integration.test_gateway_ocpp16 import consume
from tests.integration.test_gateway_ocpp201 import running_gateway


async def _post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    kw: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    async with session.post(url, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


def test_feedback_is_published_after_ack_and_bad_input_is_named(kafka_topics: str, unique: str) -> None:
    station = f"FB-{unique}"
    good = {
        "station_id": station,
        "connector_id": 2,
        "rating": 2,
        "category": "blocked-by-idle-car",
        "comment": "an SUV sat there for 3 hours after charging",
        "user_ref": "driver-4711",
        "submitted_at": "2026-11-24T09:30:00+01:00",
    }

    async def scenario() -> dict[str, tuple[int, dict[str, Any]]]:
        async with running_gateway(kafka_topics, NetworkConfig()) as port, aiohttp.ClientSession() as s:
            url = f"http://127.0.0.1:{port}/feedback"
            retry = {"Idempotency-Key": f"k-{unique}"}
            return {
                "good": await _post(s, url, good),
                "keyed": await _post(s, url, {"station_id": station, "category": "slow"}, retry),
                "keyed again": await _post(s, url, {"station_id": station, "category": "slow"}, retry),
                "client id": await _post(
                    s, url, {"station_id": station, "category": "other", "feedback_id": "fb-1"}
                ),
                "rating 7": await _post(s, url, {**good, "rating": 7}),
                "rating '3'": await _post(s, url, {**good, "rating": "3"}),
                "bad category": await _post(s, url, {**good, "category": "coffee"}),
                "no station": await _post(s, url, {"category": "slow"}),
                "unknown field": await _post(s, url, {**good, "colour": "red"}),
                "not json": await _post(s, url, "{nope"),
            }

    r = asyncio.run(scenario())
    assert r["good"][0] == 202 and set(r["good"][1]) == {"feedback_id"}
    assert r["keyed"] == r["keyed again"] and r["keyed"][0] == 202, "a retry with the same key, the same id"
    assert r["client id"] == (202, {"feedback_id": "fb-1"})
    assert r["rating 7"][0] == 400 and r["rating 7"][1]["fields"] == ["rating"]
    assert "rating" in r["rating 7"][1]["error"]
    assert r["rating '3'"][1]["fields"] == ["rating"], "integers must be JSON integers"
    assert r["bad category"][0] == 400 and r["bad category"][1]["fields"] == ["category"]
    assert r["no station"][0] == 400 and r["no station"][1]["fields"] == ["station_id"]
    assert r["unknown field"][1]["fields"] == ["colour"]
    assert r["not json"][0] == 400 and "JSON" in r["not json"][1]["error"]

    msgs = consume(kafka_topics, DRIVER_FEEDBACK, station.encode(), 4)
    recs = [EmbeddedCodec().decode(DRIVER_FEEDBACK, m.value()) for m in msgs]
    first = recs[0]
    assert first["feedback_id"] == r["good"][1]["feedback_id"]
    assert (first["station_id"], first["connector_id"], first["rating"], first["category"]) == (
        station,
        2,
        2,
        "blocked-by-idle-car",
    )
    assert first["user_ref_hash"] and b"driver-4711" not in msgs[0].value(), "driver refs are hashed"
    assert first["submitted_at"].isoformat() == "2026-11-24T08:30:00+00:00"
    assert abs(first["received_at"].timestamp() - time.time()) < 120, "received_at is the gateway's clock"
    assert [rec["feedback_id"] for rec in recs[1:]] == [r["keyed"][1]["feedback_id"]] * 2 + ["fb-1"]
