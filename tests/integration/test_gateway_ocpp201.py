"""A real OCPP 2.0.1 client (`ocpp.v201` over `websockets`) drives the gateway; events land in Kafka."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from ocpp.v201 import ChargePoint as ClientChargePoint
from ocpp.v201 import call

from chargestream.kafka_local import free_port
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.normalize import parse_time
from producers.gateway.server import serve
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    StationBoot,
    StatusChange,
    TransactionEvent,
    from_record,
)
from schemas.network import NetworkConfig, SiteConfig, StationConfig
from schemas.topics import CHARGER_EVENTS, dlq
from tests.integration.test_gateway_ocpp16 import consume

T0 = "2026-11-24T10:00:00Z"
T1 = "2026-11-24T10:15:00Z"
T2 = "2026-11-24T11:00:00Z"
KEY = b"test-key"


@contextlib.asynccontextmanager
async def running_gateway(bootstrap: str, network: NetworkConfig, **serve_kw: Any) -> AsyncIterator[int]:
    """A gateway on a free port with a real publisher; yields the port."""
    port = free_port()
    publisher = AsyncPublisher(bootstrap)
    ctx = GatewayContext(publisher, EmbeddedCodec(), KEY, network)
    runner = await serve(ctx, "127.0.0.1", port, **serve_kw)
    try:
        yield port
    finally:
        await runner.cleanup()
        publisher.close()


def events_of(bootstrap: str, station: str, n: int) -> list[ChargerEvent]:
    msgs = consume(bootstrap, CHARGER_EVENTS, station.encode(), n)
    return [from_record(EmbeddedCodec().decode(CHARGER_EVENTS, m.value())) for m in msgs]


def _network(station: str) -> NetworkConfig:
    return NetworkConfig(
        dev_mode=True,
        sites={"depot": SiteConfig(time_zone="Europe/Berlin", latitude=52.5, longitude=13.4)},
        stations={station: StationConfig(site_id="depot", max_power_kw=150.0, connectors=2)},
    )


def _tx(event_type: str, seq_no: int, ts: str, **kw: Any) -> call.TransactionEvent:
    trigger = {"Started": "CablePluggedIn", "Updated": "MeterValuePeriodic", "Ended": "EVCommunicationLost"}
    return call.TransactionEvent(
        event_type=event_type, timestamp=ts, trigger_reason=trigger[event_type], seq_no=seq_no, **kw
    )


async def _session(port: int, station: str) -> dict[str, Any]:
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{station}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        cp = ClientChargePoint(station, ws)
        reader = asyncio.create_task(cp.start())
        token = {"id_token": "SECRET-201", "type": "ISO14443"}
        out: dict[str, Any] = {}
        out["boot"] = await cp.call(
            call.BootNotification(
                charging_station={
                    "vendor_name": "ACME",
                    "model": "DC 150",
                    "firmware_version": "2.4.1",
                    "serial_number": "SN-9",
                },
                reason="PowerUp",
            )
        )
        await cp.call(call.StatusNotification(T0, "Occupied", evse_id=1, connector_id=1))
        out["auth"] = await cp.call(call.Authorize(id_token=token))
        out["started"] = await cp.call(
            _tx(
                "Started",
                0,
                T0,
                transaction_info={"transaction_id": "tx-201-a", "charging_state": "EVConnected"},
                evse={"id": 1, "connector_id": 1},
                id_token=token,
                meter_value=[
                    {
                        "timestamp": T0,
                        "sampled_value": [
                            {
                                "value": 1234.5,
                                "context": "Transaction.Begin",
                                "unit_of_measure": {"unit": "kWh"},
                            }
                        ],
                    }
                ],
            )
        )
        await cp.call(  # no evse: the gateway remembers the transaction's
            _tx(
                "Updated",
                1,
                T1,
                transaction_info={"transaction_id": "tx-201-a", "charging_state": "Charging"},
                meter_value=[
                    {
                        "timestamp": T1,
                        "sampled_value": [
                            {"value": 123.4567, "unit_of_measure": {"unit": "kWh", "multiplier": 1}},
                            {
                                "value": 150,
                                "measurand": "Power.Active.Import",
                                "unit_of_measure": {"unit": "W", "multiplier": 3},
                            },
                            {
                                "value": 52.3,
                                "measurand": "Power.Active.Import",
                                "phase": "L1",
                                "unit_of_measure": {"unit": "kW"},
                            },
                            {
                                "value": 12345678,
                                "measurand": "Energy.Active.Import.Interval",
                                "unit_of_measure": {"unit": "Wh", "multiplier": -1},
                            },
                        ],
                    }
                ],
            )
        )
        ended = _tx(
            "Ended",
            2,
            T2,
            offline=True,
            transaction_info={
                "transaction_id": "tx-201-a",
                "charging_state": "Idle",
                "stopped_reason": "EVDisconnected",
            },
            meter_value=[
                {
                    "timestamp": T2,
                    "sampled_value": [
                        {"value": 1259.9, "context": "Transaction.End", "unit_of_measure": {"unit": "kWh"}}
                    ],
                }
            ],
        )
        await cp.call(ended)
        await cp.call(ended)  # re-sent from the offline queue under a new message id
        await cp.call(
            call.NotifyEvent(
                generated_at=T2,
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": T1,
                        "trigger": "Alerting",
                        "actual_value": "true",
                        "event_notification_type": "HardWiredMonitor",
                        "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                        "variable": {"name": "Problem"},
                        "tech_code": "E-OV",
                        "tech_info": "overvoltage L2",
                        "custom_data": {"vendor_id": "acme", "severity": 2},
                    },
                    {
                        "event_id": 2,
                        "timestamp": T2,
                        "trigger": "Delta",
                        "actual_value": "Available",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "ChargingStation"},
                        "variable": {"name": "AvailabilityState"},
                        "cleared": True,
                    },
                ],
            )
        )
        await cp.call(
            call.MeterValues(
                evse_id=1,
                meter_value=[
                    {"timestamp": T2, "sampled_value": [{"value": 1259900, "context": "Sample.Clock"}]}
                ],
            )
        )
        await cp.call(call.Heartbeat())
        out["unknown"] = await cp.call(
            _tx("Updated", 5, T2, transaction_info={"transaction_id": "tx-201-unknown"})
        )
        reader.cancel()
    return out


def test_ocpp201_session_in_canonical_events(kafka_topics: str, unique: str) -> None:
    station = f"CP201-{unique}"

    async def scenario() -> dict[str, Any]:
        async with running_gateway(kafka_topics, _network(station)) as port:
            return await _session(port, station)

    out = asyncio.run(scenario())
    assert out["boot"].status == "Accepted" and out["auth"].id_token_info["status"] == "Accepted"
    assert out["started"].id_token_info["status"] == "Accepted"  # required when the request had an idToken

    events = events_of(kafka_topics, station, 13)
    assert [e.kind for e in events] == [
        "ConnectionChange",
        "StationBoot",
        "StatusChange",
        "TransactionEvent",
        "TransactionEvent",
        "TransactionEvent",
        "TransactionEvent",
        "FaultNotice",
        "FaultNotice",
        "MeterValues",
        "Heartbeat",
        "TransactionEvent",
        "ConnectionChange",
    ]
    assert all(e.source == "ocpp2.0.1" for e in events)
    (
        conn_up,
        boot,
        status,
        started,
        updated,
        ended,
        ended_again,
        fault1,
        fault2,
        meter,
        _hb,
        orphan,
        conn_down,
    ) = events
    assert conn_up.payload == ConnectionChange(True) and conn_up.station_time == conn_up.received_at
    assert conn_down.payload == ConnectionChange(False, "closed by station (1000)")
    assert boot.payload == StationBoot(
        "ACME",
        "DC 150",
        "2.4.1",
        "SN-9",
        "PowerUp",
        site_id="depot",
        time_zone="Europe/Berlin",
        latitude=52.5,
        longitude=13.4,
        max_power_kw=150.0,
        connectors=2,
    )
    assert status.payload == StatusChange("Occupied") and (status.connector_id, status.evse_id) == (1, 1)

    for tx in (started, updated, ended):
        assert (tx.connector_id, tx.evse_id) == (1, 1), "the EVSE is the canonical connector"
    s, u, e = started.payload, updated.payload, ended.payload
    assert (
        isinstance(s, TransactionEvent)
        and isinstance(u, TransactionEvent)
        and isinstance(e, TransactionEvent)
    )
    assert (s.event_type, s.transaction_id, s.seq_no, s.trigger_reason, s.charging_state) == (
        "Started",
        "tx-201-a",
        0,
        "CablePluggedIn",
        "EVConnected",
    )
    assert s.id_token_hash and s.id_token_hash != "SECRET-201"
    assert [(x.unit, x.value, x.context) for x in s.samples] == [("Wh", 1_234_500.0, "Transaction.Begin")]
    # value × 10^multiplier, exact: 123.4567 kWh ×10, 150 W ×10³, 52.3 kW, 12345678 Wh ×10⁻¹
    assert [(x.measurand, x.phase, x.unit, x.value, x.raw_value, x.raw_unit) for x in u.samples] == [
        ("Energy.Active.Import.Register", None, "Wh", 1_234_567.0, "123.4567", "kWhe1"),
        ("Power.Active.Import", None, "W", 150_000.0, "150", "We3"),
        ("Power.Active.Import", "L1", "W", 52_300.0, "52.3", "kW"),
        ("Energy.Active.Import.Interval", None, "Wh", 1_234_567.8, "12345678", "Whe-1"),
    ]
    assert (e.event_type, e.stopped_reason, e.offline, e.charging_state) == (
        "Ended",
        "EVDisconnected",
        True,
        "Idle",
    )
    assert e.samples[0].value == 1_259_900.0
    assert ended_again.event_id == ended.event_id != started.event_id  # same (transaction, seqNo): one event
    assert ended_again.message_id != ended.message_id
    assert started.station_time < updated.station_time < ended.station_time
    assert started.station_time == parse_time(T0) and updated.station_time == parse_time(T1)
    assert abs(started.received_at - time.time() * 1000) < 120_000, "the gateway's clock beside the station's"

    assert fault1.payload == FaultNotice(
        "Connector", "Problem", "Alerting", "true", "E-OV", "overvoltage L2", severity=2, cleared=False
    )
    assert (fault1.connector_id, fault1.evse_id) == (1, 1)
    assert fault2.payload == FaultNotice(
        "ChargingStation", "AvailabilityState", "Delta", "Available", cleared=True
    )
    assert (fault2.connector_id, fault2.evse_id) == (0, None) and fault1.event_id != fault2.event_id
    assert (meter.connector_id, meter.evse_id) == (1, 1) and meter.payload.samples[0].value == 1_259_900.0  # type: ignore[union-attr]
    assert (orphan.connector_id, orphan.evse_id) == (0, None), (
        "unknown EVSE: resolved downstream by transaction"
    )


async def _bad_frames(port: int, station: str) -> list[Any]:
    frames = [
        # schema violation (evseId must be an integer)
        f'[2,"b-1","StatusNotification",{{"timestamp":"{T0}","connectorStatus":"Occupied",'
        '"evseId":"one","connectorId":1}]',
        '[2,"b-2","MakeCoffee",{}]',  # unknown action
        # a known action without a handler
        '[2,"b-3","ReservationStatusUpdate",{"reservationId":1,"reservationUpdateStatus":"Expired"}]',
        # schema-valid, meaningless: a unit nobody knows
        f'[2,"b-4","MeterValues",{{"evseId":1,"meterValue":[{{"timestamp":"{T0}",'
        '"sampledValue":[{"value":1,"unitOfMeasure":{"unit":"MWh"}}]}]}]',
        '[2,"b-5","TransactionEvent",{"eventType":"Updated","timestamp":"yesterday",'
        '"triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"t"},'
        '"idToken":{"idToken":"RAW-SECRET-TOKEN","type":"ISO14443"}}]',
        "this is not json",
        '[2,"ok-1","Heartbeat",{}]',
        '[2,"ok-2","SecurityEventNotification",{"type":"x","timestamp":"' + T0 + '"}]',  # acknowledged
    ]
    replies: list[Any] = []
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{station}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        for frame in frames:
            await ws.send(frame)
            if frame != "this is not json":
                replies.append(json.loads(await ws.recv()))
        big = '[2,"big-1","DataTransfer",{"vendorId":"x","data":"' + "x" * 100_000 + '"}]'
        await ws.send(big)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        replies.append(closed.value.rcvd.code if closed.value.rcvd else None)
    return replies


def test_ocpp201_bad_frames_get_call_errors_and_go_to_the_dlq(kafka_topics: str, unique: str) -> None:
    station = f"CP201-BAD-{unique}"

    async def scenario() -> list[Any]:
        async with running_gateway(kafka_topics, NetworkConfig(dev_mode=True)) as port:
            return await _bad_frames(port, station)

    replies = asyncio.run(scenario())
    errors = [(r[1], r[2]) for r in replies[:5]]
    assert all(r[0] == 4 for r in replies[:5]), replies
    assert errors == [
        ("b-1", "TypeConstraintViolation"),
        ("b-2", "NotSupported"),
        ("b-3", "NotImplemented"),
        ("b-4", "FormatViolation"),
        ("b-5", "FormatViolation"),
    ]
    assert replies[5][:2] == [3, "ok-1"], "the connection stayed up"
    assert replies[6] == [3, "ok-2", {}], "routine notifications are acknowledged"
    assert replies[7] == 1009, "oversize frame: closed with 'message too big'"
    dead = consume(kafka_topics, dlq(CHARGER_EVENTS), station.encode(), 6)
    reasons = [dict(m.headers())["dlq.reason"].decode() for m in dead]
    assert len(reasons) == 6
    assert any("MWh" in r for r in reasons) and any("yesterday" in r for r in reasons)
    assert any("MakeCoffee" in r for r in reasons) and any("not valid JSON" in r for r in reasons)
    assert [m.value() for m in dead if m.value() == b"this is not json"], "the raw frame is kept"
    assert not [m for m in dead if b"RAW-SECRET-TOKEN" in m.value()], "no raw token in the DLQ either"
    assert any(b'"idToken":"hmac:' in m.value() for m in dead)
    kinds = events_of(kafka_topics, station, 3)
    assert [e.kind for e in kinds] == ["ConnectionChange", "Heartbeat", "ConnectionChange"]
    assert kinds[2].payload == ConnectionChange(False, "frame over 65536 bytes (1009)")


async def _silent_client(port: int, station: str, hold: float) -> None:
    """A WebSocket client that completes the handshake, then never reads: it never answers a ping."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ocpp/{station} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    assert b" 101 " in status, status
    await asyncio.sleep(hold)
    writer.close()


async def _replaced(port: int, station: str) -> tuple[int | None, str]:
    url = f"ws://127.0.0.1:{port}/ocpp/{station}"
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"]) as first:  # type: ignore[list-item]
        await first.send('[2,"h-1","Heartbeat",{}]')
        await first.recv()
        async with websockets.connect(url, subprotocols=["ocpp2.0.1"]) as second:  # type: ignore[list-item]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await first.recv()
            await second.send('[2,"h-2","Heartbeat",{}]')
            await second.recv()
    rcvd = closed.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, "")


def test_connection_events_ping_timeout_replaced_connection_and_shutdown(
    kafka_topics: str, unique: str
) -> None:
    silent, twice, staying = f"CP201-SILENT-{unique}", f"CP201-TWICE-{unique}", f"CP201-STAY-{unique}"

    async def scenario() -> tuple[tuple[int | None, str], int | None]:
        async with running_gateway(kafka_topics, NetworkConfig(dev_mode=True), ping_seconds=1.0) as port:
            await _silent_client(port, silent, hold=3.0)
            replaced = await _replaced(port, twice)
            stays = await websockets.connect(
                f"ws://127.0.0.1:{port}/ocpp/{staying}",
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            )
        # the gateway has shut down with the station still connected
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await stays.recv()
        return replaced, closed.value.rcvd.code if closed.value.rcvd else None

    (code, reason), shutdown_code = asyncio.run(scenario())
    assert shutdown_code == 1001
    assert [e.payload for e in events_of(kafka_topics, staying, 2)] == [
        ConnectionChange(True),
        ConnectionChange(False, "gateway shutdown"),
    ]
    lost = events_of(kafka_topics, silent, 2)
    assert [e.payload for e in lost] == [
        ConnectionChange(True),
        ConnectionChange(False, "ping timeout (no pong within 0.5 s)"),
    ]
    assert (
        lost[1].station_time == lost[1].received_at
        and 400 <= lost[1].received_at - lost[0].received_at < 3000
    )

    assert (code, reason) == (1000, "replaced by a new connection")
    changes = [e.payload for e in events_of(kafka_topics, twice, 6) if e.kind == "ConnectionChange"]
    assert changes == [
        ConnectionChange(True),
        ConnectionChange(False, "replaced by a new connection"),
        ConnectionChange(True),
        ConnectionChange(False, "closed by station (1000)"),
    ], "the old connection's loss is published before the new connection"
