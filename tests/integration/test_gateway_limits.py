"""The gateway's own limits (issue #10 §4), against a real gateway publishing to the real broker."""

from __future__ import annotations

import asyncio
import json
import logging
import tracemalloc

import pytest
import websockets

from producers.gateway.limits import DROPPED_RESULTS, FRAME_BURST, REFUSED
from schemas.network import NetworkConfig
from tests.integration.test_gateway_ocpp201 import free_port, running_gateway


def _count(counter: object, *labels: str) -> float:
    metric = counter.labels(*labels) if labels else counter  # type: ignore[attr-defined]
    return float(metric._value.get())


def _dev() -> NetworkConfig:
    return NetworkConfig(dev_mode=True)


HEARTBEAT = '[2,"{id}","Heartbeat",{{}}]'


def test_unsolicited_call_results_are_dropped_not_kept(kafka_topics: str, unique: str) -> None:
    async def scenario() -> tuple[float, int, str]:
        async with running_gateway(kafka_topics, _dev()) as port:
            url = f"ws://127.0.0.1:{port}/ocpp/RES-{unique}"
            async with websockets.connect(url, subprotocols=["ocpp1.6"], max_size=None) as ws:  # type: ignore[list-item]
                before = _count(DROPPED_RESULTS)
                tracemalloc.start()
                base, _ = tracemalloc.get_traced_memory()
                blob = "x" * 60_000
                for i in range(1500):
                    await ws.send(json.dumps([3, f"r{i}", {"data": blob}]))
                await ws.send(HEARTBEAT.format(id="hb"))
                reply = str(await asyncio.wait_for(ws.recv(), 30))
                now, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                return _count(DROPPED_RESULTS) - before, now - base, reply

    dropped, grown, reply = asyncio.run(scenario())
    assert dropped == 1500
    assert grown < 10 * 2**20, f"{grown / 2**20:.1f} MiB kept (the probe saw 87.7 MB)"
    assert reply.startswith('[3,"hb"')  # the connection still works


def test_a_flooding_station_is_told_to_slow_down_and_every_frame_is_answered(
    kafka_topics: str, unique: str
) -> None:
    n = FRAME_BURST + 300

    async def scenario() -> tuple[list[str], float]:
        async with running_gateway(kafka_topics, _dev()) as port:
            url = f"ws://127.0.0.1:{port}/ocpp/FLOOD-{unique}"
            async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                before = _count(REFUSED, "rate_limit")
                for i in range(n):
                    await ws.send(HEARTBEAT.format(id=f"h{i}"))
                replies = [str(await asyncio.wait_for(ws.recv(), 30)) for _ in range(n)]
                return replies, _count(REFUSED, "rate_limit") - before

    replies, limited = asyncio.run(scenario())
    answered = [json.loads(r) for r in replies]
    refused = [r for r in answered if r[0] == 4]
    assert len(answered) == n  # nothing dropped without an answer
    assert FRAME_BURST <= n - len(refused) < FRAME_BURST + 100  # the burst, plus what refills meanwhile
    assert refused and all(r[2] == "GenericError" and "rate limit" in r[3] for r in refused)
    assert limited == len(refused)


def test_the_connection_cap_answers_503(kafka_topics: str, unique: str) -> None:
    async def scenario() -> tuple[int, float]:
        async with running_gateway(kafka_topics, _dev(), max_connections=3) as port:
            before = _count(REFUSED, "connection_cap")
            open_ = [
                await websockets.connect(
                    f"ws://127.0.0.1:{port}/ocpp/CAP-{unique}-{i}", subprotocols=["ocpp1.6"]
                )  # type: ignore[list-item]
                for i in range(3)
            ]
            try:
                with pytest.raises(websockets.InvalidStatus) as refused:
                    await websockets.connect(
                        f"ws://127.0.0.1:{port}/ocpp/CAP-{unique}-x", subprotocols=["ocpp1.6"]
                    )  # type: ignore[list-item]
            finally:
                for ws in open_:
                    await ws.close()
            return refused.value.response.status_code, _count(REFUSED, "connection_cap") - before

    status, counted = asyncio.run(scenario())
    assert status == 503 and counted == 1


@pytest.mark.parametrize(
    "path",
    [
        "A" * 8000,
        "..%2F..%2Fetc%2Fpasswd",
        "BAD%00ID",
        "PROBE%0A[2026-12-01 10:00:00] WARNING forged",
        "a:b",
        "with space%20x",
    ],
)
def test_invalid_station_ids_are_refused_and_logged_escaped(
    kafka_topics: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> int:
        async with running_gateway(kafka_topics, _dev()) as port:
            try:
                async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{path}", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                    return 101
            except websockets.InvalidStatus as exc:
                return int(exc.response.status_code)
            except websockets.InvalidMessage:  # aiohttp's parser refused the request line (HTTP/1.0 400)
                return 400

    with caplog.at_level(logging.INFO, logger="producers.gateway"):
        before = _count(REFUSED, "bad_station_id")
        status = asyncio.run(scenario())
    assert status in (400, 404, 414), status  # 404/414: aiohttp refuses some before our handler
    if path in ("..%2F..%2Fetc%2Fpasswd", "a:b", "BAD%00ID"):
        assert _count(REFUSED, "bad_station_id") - before == 1  # ours, not aiohttp's
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "\x00" not in record.getMessage()
        assert len(record.getMessage()) < 500


def test_dev_mode_listens_on_loopback_only(kafka_topics: str, caplog: pytest.LogCaptureFixture) -> None:
    from producers.async_publisher import AsyncPublisher
    from producers.gateway.context import GatewayContext
    from producers.gateway.server import serve
    from schemas.codec import EmbeddedCodec

    async def scenario() -> list[str]:
        publisher = AsyncPublisher(kafka_topics)
        runner = await serve(GatewayContext(publisher, EmbeddedCodec(), b"k", _dev()), "0.0.0.0", free_port())
        try:
            return [str(a[0]) for a in runner.addresses]
        finally:
            await runner.cleanup()
            publisher.close()

    with caplog.at_level(logging.WARNING, logger="producers.gateway"):
        hosts = asyncio.run(scenario())
    assert hosts == ["127.0.0.1"]
    assert "instead of 0.0.0.0" in caplog.text and "127.0.0.1 only" in caplog.text


def test_valid_ids_still_connect(kafka_topics: str, unique: str) -> None:
    async def scenario() -> str:
        async with running_gateway(kafka_topics, _dev()) as port:
            url = f"ws://127.0.0.1:{port}/ocpp/CS-{unique}_a.b@c+d|e=f*g"
            async with websockets.connect(url.replace("|", "%7C"), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                await ws.send(HEARTBEAT.format(id="ok"))
                return str(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(scenario()).startswith('[3,"ok"')
