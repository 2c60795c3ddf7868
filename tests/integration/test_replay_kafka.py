"""Dataset replay into a real broker: the topic holds exactly the events the replay reported."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chargestream.cli import _replay
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.replay import events_for, load
from producers.replay.runner import run_replay
from schemas.codec import EmbeddedCodec
from schemas.events import from_record
from schemas.topics import CHARGER_EVENTS
from tests.unit.test_replay_events import DATASETS

ACN = DATASETS / "acn_caltech_sessions.json"


class _ChargerEventsCodec(EmbeddedCodec):
    """The charger.events schema on a topic of the test's own (its count is then exact)."""

    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        return super().encode(CHARGER_EVENTS, record)

    def decode(self, topic: str, data: bytes) -> dict[str, Any]:
        return super().decode(CHARGER_EVENTS, data)


def _messages_in(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """Messages in a topic (sum of watermark spans); retried while a new topic's leaders settle."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "replay-count"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                parts = c.list_topics(topic, timeout=15).topics[topic].partitions
                spans = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in parts]
                return sum(high - low for low, high in spans)
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        c.close()


def _read_all(bootstrap: str, topic: str, want: int, group: str) -> list[tuple[bytes, int, bytes]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out: list[tuple[bytes, int, bytes]] = []
    try:
        idle = 0
        while len(out) < want and idle < 40:
            batch = c.consume(5000, timeout=0.5)
            idle = 0 if batch else idle + 1
            out += [(m.key() or b"", m.partition() or 0, m.value() or b"") for m in batch if not m.error()]
    finally:
        c.close()
    return out


def test_a_whole_dataset_lands_in_the_topic_exactly_once_in_station_order(
    kafka_topics: str, unique: str
) -> None:
    topic = f"replay-test-{unique}"
    admin = AdminClient({"bootstrap.servers": kafka_topics})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
    _messages_in(kafka_topics, topic)  # leaders are elected
    codec = _ChargerEventsCodec()
    report = run_replay(
        ACN, "acn", meter_interval_s=900, sink=EventPublisher(kafka_topics, codec, topic=topic)
    )
    rate = f"{report.events_per_s:,.0f}/s"
    print(f"\nACN replay to Kafka: {report.events} events in {report.seconds:.2f} s = {rate}")
    assert report.published and report.sessions == 3_235
    assert _messages_in(kafka_topics, topic) == report.events

    sessions, _ = load(ACN, "acn")
    expected = {e.event_id: e for e in events_for(sessions, 900)}
    got = _read_all(kafka_topics, topic, report.events, f"replay-read-{unique}")
    assert len(got) == report.events == len(expected)
    last: dict[str, int] = {}
    partition_of: dict[str, set[int]] = defaultdict(set)
    for key, partition, value in got:
        ev = from_record(codec.decode(topic, value))
        assert ev == expected.pop(ev.event_id) and key == ev.station_id.encode()
        assert ev.station_time >= last.get(ev.station_id, ev.station_time), "a station's order is kept"
        last[ev.station_id] = ev.station_time
        partition_of[ev.station_id].add(partition)
    assert not expected and all(len(p) == 1 for p in partition_of.values())


def test_cli_replay_of_a_slice_publishes_what_it_reports(kafka_topics: str, tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", kafka_bootstrap=kafka_topics)
    before = _messages_in(kafka_topics, CHARGER_EVENTS)
    report = _replay(settings, ACN, None, 50, 900, None, False)
    assert report.defects.rows_read == 50 and report.sessions == 50 and report.published
    assert _messages_in(kafka_topics, CHARGER_EVENTS) - before == report.events > 50 * 6
    truth = settings.state_dir / "truth" / "replay-acn.jsonl"
    assert len(truth.read_text().splitlines()) == 50
