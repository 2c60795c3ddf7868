"""The simulator through OCPP: real `ocpp` 1.6 clients drive the gateway (in-process) into the real broker."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import replace

from confluent_kafka import Consumer, Message

from chargestream.kafka_local import free_port
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.server import serve
from producers.simulator import FeedbackRates, FleetConfig, Pitfalls, run
from producers.simulator.identity import ID_TOKEN_KEY
from producers.simulator.ocpp_output import OcppStats, run_via_ocpp
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    MeterValues,
    StationBoot,
    StatusChange,
    TransactionEvent,
    from_record,
)
from schemas.network import NetworkConfig
from schemas.topics import CHARGER_EVENTS, DRIVER_FEEDBACK
from tests.integration.gateway_fleet import through_gateway


def _consume(
    bootstrap: str, topic: str, want: dict[bytes, int], timeout: float = 60.0
) -> dict[bytes, list[Message]]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-sim-{time.time_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    got: dict[bytes, list[Message]] = defaultdict(list)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and any(len(got[k]) < n for k, n in want.items()):
            m = c.poll(0.5)
            if m is not None and not m.error() and (key := m.key()) in want and key is not None:
                got[key].append(m)
    finally:
        c.close()
    return got


def _samples(ev: ChargerEvent) -> list[tuple[int, float, str, str, str | None, str | None, str]]:
    p = ev.payload
    assert isinstance(p, MeterValues | TransactionEvent)
    return [(s.sampled_at, s.value, s.unit, s.raw_value, s.raw_unit, s.phase, s.context) for s in p.samples]


def test_simulated_fleet_through_the_ocpp_gateway(kafka_topics: str, unique: str) -> None:
    cfg = FleetConfig(
        stations=2,
        connectors_per_station=1,
        sessions_per_connector=2,
        dc_share=0.5,
        meter_interval_s=900,
        heartbeat_interval_s=0,
        seed=int(unique, 16) % 1_000_000,
        pitfalls=Pitfalls.only(duplicate_start=1.0, kwh_units=1.0, phase_values=1.0, repeated_samples=1.0),
        # one payment report per session, nothing else (a slow DC session may add its own report)
        feedback=replace(FeedbackRates.none(), payment=1.0),
    )
    sim = run(cfg)
    stats = through_gateway(kafka_topics, sim, timeout=15)
    assert stats.errors == [] and stats.feedback == len(sim.feedback) == len(sim.sessions)
    expected: dict[str, list[ChargerEvent]] = defaultdict(list)
    for ev in sim.events:
        if not isinstance(ev.payload, ConnectionChange):
            expected[ev.station_id].append(ev)
    # the gateway adds its own ConnectionChange(True) and (False) around each connection
    got = _consume(kafka_topics, CHARGER_EVENTS, {s.encode(): len(e) + 2 for s, e in expected.items()})
    codec = EmbeddedCodec()
    truths = {t.transaction_id: t for t in sim.sessions}
    for station, want in expected.items():
        events = [from_record(codec.decode(CHARGER_EVENTS, m.value() or b"")) for m in got[station.encode()]]
        assert isinstance(events[0].payload, ConnectionChange) and events[0].payload.connected
        assert isinstance(events[-1].payload, ConnectionChange) and not events[-1].payload.connected
        events = events[1:-1]
        assert [e.kind for e in events] == [e.kind for e in want]
        assert all(e.source == "ocpp1.6" for e in events)
        tx_of: dict[str, str] = {}
        for sent, seen in zip(want, events, strict=True):
            assert seen.connector_id == sent.connector_id, (sent, seen)
            p, q = sent.payload, seen.payload
            if isinstance(p, StationBoot):
                assert isinstance(q, StationBoot) and (q.vendor, q.model, q.firmware_version) == (
                    p.vendor,
                    p.model,
                    p.firmware_version,
                )
            elif isinstance(p, StatusChange):
                assert q == p or (q == StatusChange(p.status, "NoError") and p.error_code is None)
                assert seen.station_time == sent.station_time
            elif isinstance(p, MeterValues):
                assert _samples(seen) == _samples(sent)  # kWh strings converted to the same exact Wh
                assert isinstance(q, MeterValues) and q.transaction_id == tx_of[p.transaction_id or ""]
            elif isinstance(p, TransactionEvent):
                assert isinstance(q, TransactionEvent) and q.event_type == p.event_type
                assert (q.meter_wh, q.id_token_hash, seen.station_time) == (
                    p.meter_wh,
                    p.id_token_hash,
                    sent.station_time,
                )
                if p.event_type == "Started":  # the re-sent start gets the same transaction id
                    assert tx_of.setdefault(p.transaction_id, q.transaction_id) == q.transaction_id
                else:
                    assert q.transaction_id == tx_of[p.transaction_id]
                    assert q.stopped_reason == p.stopped_reason and _samples(seen) == _samples(sent)
                    started = next(
                        e.payload
                        for e in want
                        if isinstance(e.payload, TransactionEvent)
                        and e.payload.transaction_id == p.transaction_id
                    )
                    assert q.meter_wh - started.meter_wh == truths[p.transaction_id].energy_wh  # type: ignore[operator]
        assert len(tx_of) == 2
    feedback = _consume(kafka_topics, DRIVER_FEEDBACK, {s.encode(): 2 for s in expected})
    ids = {
        codec.decode(DRIVER_FEEDBACK, m.value() or b"")["feedback_id"] for ms in feedback.values() for m in ms
    }
    assert ids == {f.truth.feedback_id for f in sim.feedback}


def test_simulated_fleet_through_ocpp_201(kafka_topics: str, unique: str) -> None:
    """2.0.1 stations say the same things differently (charging states, numbers with units, seqNo)."""
    cfg = FleetConfig(
        stations=2,
        connectors_per_station=1,
        sessions_per_connector=2,
        dc_share=0.5,
        meter_interval_s=900,
        heartbeat_interval_s=0,
        seed=int(unique, 16) % 1_000_000 + 1,
        pitfalls=Pitfalls.only(duplicate_start=1.0, kwh_units=1.0, phase_values=1.0),
    )
    sim = run(cfg)
    port = free_port()

    async def scenario() -> OcppStats:
        publisher = AsyncPublisher(kafka_topics)
        ctx = GatewayContext(publisher, EmbeddedCodec(), ID_TOKEN_KEY, NetworkConfig(dev_mode=True))
        runner = await serve(ctx, "127.0.0.1", port)
        try:
            return await run_via_ocpp(sim, f"ws://127.0.0.1:{port}", version="2.0.1", timeout=15)
        finally:
            await runner.cleanup()
            publisher.close()

    stats = asyncio.run(scenario())
    assert stats.errors == []
    codec = EmbeddedCodec()
    for st in sim.stations:
        sent = [e for e in sim.events if e.station_id == st.station_id]
        n_calls = sum(
            1
            for e in sent
            if not isinstance(e.payload, ConnectionChange)
            and not (isinstance(e.payload, StatusChange) and e.payload.status == "Finishing")
        )
        got = _consume(kafka_topics, CHARGER_EVENTS, {st.station_id.encode(): n_calls + 2})
        events = [
            from_record(codec.decode(CHARGER_EVENTS, m.value() or b"")) for m in got[st.station_id.encode()]
        ]
        assert all(e.source == "ocpp2.0.1" for e in events if not isinstance(e.payload, ConnectionChange))
        tx_events = [e for e in events if isinstance(e.payload, TransactionEvent)]
        for t in (t for t in sim.sessions if t.station_id == st.station_id):
            mine = [e.payload for e in tx_events if e.payload.transaction_id == t.transaction_id]  # type: ignore[union-attr]
            kinds = [p.event_type for p in mine]  # type: ignore[union-attr]
            assert kinds[0] == "Started" and kinds.count("Started") == 2 and kinds[-1] == "Ended"
            started = [e for e in tx_events if e.payload in mine and e.payload.event_type == "Started"]  # type: ignore[union-attr]
            assert started[0].event_id == started[1].event_id  # same seqNo re-sent: one event id
            begin = mine[0].samples[0]  # type: ignore[union-attr]
            end = [s for s in mine[-1].samples if s.context == "Transaction.End"]  # type: ignore[union-attr]
            assert end[0].value - begin.value == t.energy_wh
            assert begin.raw_unit == "kWh" and all(
                e.evse_id == t.connector_id for e in events if e.payload in mine
            )
            states = [p.charging_state for p in mine if p.trigger_reason == "ChargingStateChanged"]  # type: ignore[union-attr]
            assert states[:1] == ["Charging"]
