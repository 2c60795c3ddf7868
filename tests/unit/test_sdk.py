"""Producer SDK without a broker: builders, stable ids, exact units, wire-format round trip, failures."""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from producers import sdk
from producers.sdk.example import session_events
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    MeterValues,
    StationBoot,
    StatusChange,
    TransactionEvent,
    from_record,
    to_record,
)
from schemas.topics import CHARGER_EVENTS

T = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
T_MS = 1_795_514_400_000


def _all_kinds() -> list[ChargerEvent]:
    return [
        sdk.boot(
            "CS-1", T, vendor="ACME", model="W22", site_id="s1", time_zone="Europe/Berlin", connectors=2
        ),
        sdk.heartbeat("CS-1", T),
        sdk.connection("CS-1", T, False, reason="network"),
        sdk.status("CS-1", 1, T, "Faulted", error_code="GroundFailure", info="x"),
        sdk.transaction_started("CS-1", 1, T, "tx-1", meter_start_wh=1000, id_token_hash="h"),
        sdk.transaction_updated("CS-1", 1, T, "tx-1", charging_state="SuspendedEV", seq_no=2),
        sdk.meter_values("CS-1", 1, T, register_wh=1500, power_w=7400, transaction_id="tx-1"),
        sdk.transaction_ended("CS-1", 1, T, "tx-1", meter_stop_wh=2000, stopped_reason="EVDisconnected"),
        sdk.fault("CS-1", 1, T, component="Connector", variable="Problem", tech_code="E12"),
    ]


def test_builders_make_each_canonical_event() -> None:
    kinds = [type(e.payload) for e in _all_kinds()]
    assert kinds == [
        StationBoot,
        Heartbeat,
        ConnectionChange,
        StatusChange,
        TransactionEvent,
        TransactionEvent,
        MeterValues,
        TransactionEvent,
        FaultNotice,
    ]
    ev = _all_kinds()[4]
    assert ev.station_time == T_MS and ev.connector_id == 1 and ev.source == "sdk"
    assert ev.payload == TransactionEvent(
        "Started", "tx-1", trigger_reason="Authorized", id_token_hash="h", meter_wh=1000.0
    )
    assert sdk.at_ms(datetime(2026, 11, 24, 11, tzinfo=timezone(timedelta(hours=1)))) == T_MS


def test_every_built_event_round_trips_through_the_wire_format() -> None:
    codec = EmbeddedCodec()
    for ev in [*_all_kinds(), *session_events("CS-EX", T)]:
        data = codec.encode(CHARGER_EVENTS, to_record(ev))
        magic, schema_id = struct.unpack(">bI", data[:5])
        assert (magic, schema_id) == (0, 1002)
        assert from_record(codec.decode(CHARGER_EVENTS, data)) == ev


def test_event_ids_are_stable_per_message_id_else_random() -> None:
    a = sdk.heartbeat("CS-1", T, message_id="m-7")
    b = sdk.heartbeat("CS-1", T + timedelta(minutes=1), message_id="m-7")
    assert a.event_id == b.event_id == sdk.event_id("CS-1", "m-7") and a.message_id == "m-7"
    assert sdk.heartbeat("CS-2", T, message_id="m-7").event_id != a.event_id
    assert sdk.heartbeat("CS-1", T).event_id != sdk.heartbeat("CS-1", T).event_id


def test_kwh_and_phases_convert_exactly_and_stay_apart() -> None:
    ev = sdk.meter_values(
        "CS-1", 2, T, register_kwh="1001.2345", phases_wh={"L1": 400, "L2": 300}, power_w="7400"
    )
    assert isinstance(ev.payload, MeterValues)
    total, l1, l2, power = ev.payload.samples
    assert (total.value, total.unit, total.raw_value, total.raw_unit) == (
        1_001_234.5,
        "Wh",
        "1001.2345",
        "kWh",
    )
    assert (l1.phase, l1.value, l2.phase) == ("L1", 400.0, "L2") and total.phase is None
    assert (power.measurand, power.unit, power.value) == ("Power.Active.Import", "W", 7400.0)
    kw = sdk.sample(T, "22.001", unit="kW", measurand="Power.Active.Import")
    assert (kw.unit, kw.value) == ("W", 22_001.0)


def test_builders_refuse_what_cannot_be_right() -> None:
    with pytest.raises(ValueError, match="naive"):
        sdk.heartbeat("CS-1", datetime(2026, 11, 24, 10))
    with pytest.raises(ValueError, match="status"):
        sdk.status("CS-1", 1, T, "Charing")
    with pytest.raises(ValueError, match="unit"):
        sdk.sample(T, 5, unit="MWh?")
    with pytest.raises(ValueError, match="not a number"):
        sdk.meter_values("CS-1", 1, T, register_wh="12,5")
    with pytest.raises(ValueError, match="at least one"):
        sdk.meter_values("CS-1", 1, T)
    with pytest.raises(ValueError, match="transaction_id"):
        sdk.transaction_ended("CS-1", 1, T, "", meter_stop_wh=1)
    with pytest.raises(ValueError, match="connector"):
        sdk.status("CS-1", -1, T, "Available")


def test_an_invalid_event_is_refused_before_sending() -> None:
    bad = sdk.heartbeat("CS-1", T)
    bad = ChargerEvent(bad.event_id, "CS-1", 0, T_MS, T_MS, "sdk", StatusChange(None))  # type: ignore[arg-type]
    producer = sdk.ChargerEventProducer("127.0.0.1:1", kafka_config={"message.timeout.ms": 500})
    with pytest.raises(sdk.InvalidEvent):
        producer.send(bad)
    assert producer.sent == 0 and producer.flush(1).delivered == 0


def test_undeliverable_events_are_reported_per_event_and_raise_on_flush() -> None:
    failures: list[tuple[str, str | None]] = []
    producer = sdk.ChargerEventProducer(
        "127.0.0.1:1",  # nothing listens there
        on_delivery=lambda ev, err: failures.append((ev.event_id, err)),
        kafka_config={"message.timeout.ms": 500, "socket.connection.setup.timeout.ms": 1000},
    )
    events = [sdk.heartbeat("CS-1", T, message_id=str(i)) for i in range(3)]
    for ev in events:
        producer.send(ev)
    t0 = time.monotonic()
    with pytest.raises(sdk.DeliveryFailed) as failed:
        producer.flush(10)
    assert time.monotonic() - t0 < 10
    assert (failed.value.report.delivered, failed.value.report.failed) == (0, 3)
    assert sorted(f[0] for f in failures) == sorted(e.event_id for e in events)
    assert all(f[1] for f in failures)
    quiet = sdk.ChargerEventProducer(
        "127.0.0.1:1", raise_on_failure=False, kafka_config={"message.timeout.ms": 500}
    )
    quiet.send(events[0])
    report = quiet.flush(10)
    assert (report.delivered, report.failed, report.ok) == (0, 1, False)


def test_with_a_schema_registry_the_same_events_round_trip() -> None:
    from schemas.codec import make_codec

    codec = make_codec("mock://sdk-unit-test")  # confluent-kafka's in-memory registry
    for ev in _all_kinds():
        data = codec.encode(CHARGER_EVENTS, to_record(ev))
        assert data[0] == 0 and from_record(codec.decode(CHARGER_EVENTS, data)) == ev
    producer = sdk.ChargerEventProducer(
        "127.0.0.1:1",
        registry_url="mock://sdk-unit-test",
        raise_on_failure=False,
        kafka_config={"message.timeout.ms": 300},
    )
    producer.send(_all_kinds()[0])
    assert producer.sent == 1 and producer.flush(10).failed == 1
