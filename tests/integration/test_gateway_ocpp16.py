"""A real OCPP 1.6 client (the `ocpp` package over `websockets`) drives the gateway; events land in Kafka."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from confluent_kafka import Consumer
from ocpp.v16 import ChargePoint as ClientChargePoint
from ocpp.v16 import call

from chargestream.kafka_local import free_port
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.server import serve
from producers.gateway.v16.transactions import connector_of_transaction_16
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, ConnectionChange, StationBoot, from_record
from schemas.network import NetworkConfig, SiteConfig, StationConfig
from schemas.topics import CHARGER_EVENTS, dlq

T0 = "2026-11-24T10:00:00Z"


def consume(bootstrap: str, topic: str, key: bytes, n: int, timeout: float = 30.0) -> list[Any]:
    """The first `n` records with `key` on `topic` (the broker is shared: other keys are skipped)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{key.decode()}-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < n:
            m = c.poll(0.5)
            if m is not None and not m.error() and m.key() == key:
                out.append(m)
    finally:
        c.close()
    return out


async def _session(port: int, station: str) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/ocpp/{station}"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = ClientChargePoint(station, ws)
        reader = asyncio.create_task(cp.start())
        boot = await cp.call(
            call.BootNotification(charge_point_model="Wallbox 22", charge_point_vendor="ACME")
        )
        await cp.call(
            call.StatusNotification(connector_id=2, error_code="NoError", status="Preparing", timestamp=T0)
        )
        start = call.StartTransaction(
            connector_id=2, id_tag="SECRET-TAG", meter_start=1_000_000, timestamp=T0
        )
        started = await cp.call(start)
        again = await cp.call(start)  # re-sent after a lost response: same transaction id
        tx = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=2,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": "2026-11-24T10:15:00Z",
                        "sampledValue": [
                            {"value": "1001.2345", "unit": "kWh"},
                            {"value": "7.4", "unit": "kW", "measurand": "Power.Active.Import"},
                        ],
                    }
                ],
            )
        )
        await cp.call(
            call.StopTransaction(
                meter_stop=1_004_321,
                timestamp="2026-11-24T11:00:00Z",
                transaction_id=tx,
                reason="EVDisconnected",
            )
        )
        await cp.call(
            call.StatusNotification(
                connector_id=2, error_code="NoError", status="Available", timestamp="2026-11-24T11:01:00Z"
            )
        )
        reader.cancel()
    return {"boot": boot, "tx": tx, "again": again.transaction_id}


async def _bad_frames(port: int, station: str) -> list[Any]:
    replies = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for frame in (
            '[2, "bad-1", "MeterValues", {"connectorId": "one"}]',  # schema violation
            '[2, "bad-2", "MakeCoffee", {}]',  # unknown action
            '[2, "bad-3", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "'
            + T0
            + '", "sampledValue": [{"value": "12,5"}]}]}]',  # valid schema, bad number
            "this is not json",
            '[2, "ok-1", "Heartbeat", {}]',
        ):  # still connected
            await ws.send(frame)
            if frame != "this is not json":
                replies.append(json.loads(await ws.recv()))
        big = '[2, "big-1", "DataTransfer", {"vendorId": "x", "data": "' + "x" * 100_000 + '"}]'
        await ws.send(big)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        replies.append(closed.value.rcvd.code if closed.value.rcvd else None)
    return replies


def test_ocpp16_session_bad_frames_and_refusals(kafka_topics: str, unique: str) -> None:
    port = free_port()
    station = f"CP16-{unique}"

    async def scenario() -> tuple[dict[str, Any], list[Any], str]:
        publisher = AsyncPublisher(kafka_topics)
        network = NetworkConfig(
            dev_mode=True,
            sites={"depot": SiteConfig(time_zone="Europe/Berlin", latitude=52.5, longitude=13.4)},
            stations={station: StationConfig(site_id="depot", max_power_kw=22.0, connectors=2)},
        )
        ctx = GatewayContext(publisher, EmbeddedCodec(), b"test-key", network)
        runner = await serve(ctx, "127.0.0.1", port)
        try:
            session = await _session(port, station)
            replies = await _bad_frames(port, station)
            try:
                async with websockets.connect(
                    f"ws://127.0.0.1:{port}/ocpp/{station}",
                    subprotocols=["ocpp9.9"],  # type: ignore[list-item]
                ):
                    refused = "accepted"
            except websockets.InvalidStatus as exc:
                refused = str(exc.response.status_code)
        finally:
            await runner.cleanup()
            publisher.close()
        return session, replies, refused

    session, replies, refused = asyncio.run(scenario())
    assert session["boot"].status == "Accepted"
    assert session["tx"] == session["again"] and connector_of_transaction_16(session["tx"]) == 2

    msgs = consume(kafka_topics, CHARGER_EVENTS, station.encode(), 9)
    assert all(b"SECRET-TAG" not in m.value() for m in msgs), "raw idTags must never leave the gateway"
    events: list[ChargerEvent] = [
        from_record(EmbeddedCodec().decode(CHARGER_EVENTS, m.value())) for m in msgs
    ]
    assert [e.kind for e in events] == [
        "ConnectionChange",
        "StationBoot",
        "StatusChange",
        "TransactionEvent",
        "TransactionEvent",
        "MeterValues",
        "TransactionEvent",
        "StatusChange",
        "ConnectionChange",
    ]
    assert events[0].payload == ConnectionChange(True) and events[8].payload.connected is False  # type: ignore[union-attr]
    events = events[1:8]
    boot = events[0].payload
    assert isinstance(boot, StationBoot) and (boot.vendor, boot.model) == ("ACME", "Wallbox 22")
    assert (boot.site_id, boot.time_zone, boot.latitude, boot.max_power_kw, boot.connectors) == (
        "depot",
        "Europe/Berlin",
        52.5,
        22.0,
        2,
    ), "station metadata from the network file"
    assert events[2].event_id != events[3].event_id  # two frames; dedup downstream keys on the transaction
    started, meter, stopped = events[2].payload, events[4].payload, events[5].payload
    assert started.meter_wh == 1_000_000.0 and started.id_token_hash  # type: ignore[union-attr]
    assert [(s.unit, s.value, s.raw_value) for s in meter.samples] == [  # type: ignore[union-attr]
        ("Wh", 1_001_234.5, "1001.2345"),
        ("W", 7400.0, "7.4"),
    ]
    assert stopped.meter_wh == 1_004_321.0 and stopped.stopped_reason == "EVDisconnected"  # type: ignore[union-attr]
    assert events[5].connector_id == 2  # attributed from the transaction id
    assert events[1].station_time == int(datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp() * 1000)
    assert (
        abs(events[1].received_at - time.time() * 1000) < 120_000
    )  # gateway clock kept beside the station's

    codes = [r[2] if isinstance(r, list) and r[0] == 4 else r for r in replies]
    assert codes[:3] == ["TypeConstraintViolation", "NotSupported", "FormatViolation"], replies
    assert replies[3][0] == 3 and replies[3][1] == "ok-1"  # the connection stayed up
    assert codes[4] == 1009  # oversize frame: closed with "message too big"
    dead = consume(kafka_topics, dlq(CHARGER_EVENTS), station.encode(), 4)
    reasons = sorted(dict(m.headers())["dlq.reason"].decode() for m in dead)
    assert len(reasons) == 4 and any("12,5" in r for r in reasons) and any("MakeCoffee" in r for r in reasons)
    assert refused == "400"
