"""The producer SDK against the real broker: a session produced, read back and decoded, delivery reported."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Message

from producers import sdk
from producers.sdk import example
from producers.sdk.example import session_events
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, from_record
from schemas.topics import CHARGER_EVENTS


def consume_station(bootstrap: str, station_id: str, n: int, timeout: float = 30.0) -> list[Message]:
    """The first `n` records of one station (the broker is shared: other keys are skipped)."""
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{station_id}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([CHARGER_EVENTS])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < n:
            m = c.poll(0.5)
            if m is not None and not m.error() and m.key() == station_id.encode():
                out.append(m)
    finally:
        c.close()
    return out


def test_sdk_session_lands_in_kafka_in_order_and_decodes(kafka_topics: str, unique: str) -> None:
    station = f"SDK-{unique}"
    events = session_events(station, datetime(2026, 11, 24, 9, tzinfo=UTC))
    delivered: list[tuple[ChargerEvent, str | None]] = []
    with sdk.ChargerEventProducer(kafka_topics, on_delivery=lambda ev, err: delivered.append((ev, err))) as p:
        for ev in events:
            p.send(ev)
        report = p.flush()
    assert (report.delivered, report.failed, report.pending) == (len(events), 0, 0)
    assert [ev for ev, _ in delivered] == events and all(err is None for _, err in delivered)

    msgs = consume_station(kafka_topics, station, len(events))
    codec = EmbeddedCodec()
    back = [from_record(codec.decode(CHARGER_EVENTS, m.value() or b"")) for m in msgs]
    assert back == events  # same order (one key, one partition), same content
    assert len({m.partition() for m in msgs}) == 1
    mv = back[4].payload
    assert mv.samples[0].raw_unit == "kWh" and mv.samples[0].value == 1_250_916.0  # type: ignore[union-attr]


def test_the_example_runs_against_the_broker(
    kafka_topics: str, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    station = f"SDK-EX-{unique}"
    example.main(["--bootstrap", kafka_topics, "--station", station])
    out = capsys.readouterr().out
    assert "13 events delivered to charger.events, 0 failed" in out and "FAILED" not in out
    assert len(consume_station(kafka_topics, station, 13)) == 13
