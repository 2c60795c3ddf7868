"""Raw idTags on error paths (issue #10 §3): each variant the probe found is sent to the real stack, then
every topic, table, log and file of the run is searched for the raw token.

The `ocpp` library's validation messages quote the payload, so a rejected frame's reason, its DLQ
record and the gateway's log are where a raw token would surface.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import websockets
import yaml
from confluent_kafka import Consumer, TopicPartition

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings


def _frames_16(tokens: dict[str, str]) -> list[str]:
    t = "2026-11-30T10:00:00Z"
    return [
        json.dumps(
            [
                2,
                "m1",
                "StopTransaction",
                {
                    "meterStop": 100,
                    "timestamp": t,
                    "transactionId": 1,
                    "idTag": tokens["bad_reason"],
                    "reason": "NotAReason",
                },
            ]
        ),
        json.dumps([2, "m2", "Authorize", {"idTag": [tokens["as_list"]]}]),
        json.dumps([2, "m3", "Authorize", {"idTag": tokens["too_long"]}]),
        "[2,'m4','Authorize',{'idTag':'" + tokens["single_quoted"] + "'}]",
        '[2,"m5","StartTransaction",{"connectorId":1,"idTag":"'
        + tokens["huge_meter_start"]
        + '","meterStart":'
        + "9" * 400
        + ',"timestamp":"'
        + t
        + '"}]',
        json.dumps(
            [
                2,
                "m6",
                "StartTransaction",
                {"connectorId": 1, "idTag": tokens["parent"], "meterStart": -5, "timestamp": "not a time"},
            ]
        ),
    ]


def _frames_201(tokens: dict[str, str]) -> list[str]:
    return [
        json.dumps(
            [
                2,
                "n1",
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": "2026-11-30T10:00:00Z",
                    "triggerReason": "NoSuchReason",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "t1"},
                    "idToken": {"idToken": tokens["bad_trigger"], "type": "ISO14443"},
                },
            ]
        ),
        json.dumps([2, "n2", "Authorize", {"idToken": {"idToken": tokens["201_too_long"], "type": "Bogus"}}]),
    ]


async def _send(port: int, station: str, protocol: str, frames: list[str]) -> list[str]:
    replies = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        for frame in frames:
            await ws.send(frame)
            try:
                replies.append(str(await asyncio.wait_for(ws.recv(), 10)))
            except TimeoutError:
                replies.append("")  # nothing to answer (an unreadable id): still dead-lettered
    return replies


def _all_topic_bytes(bootstrap: str) -> bytes:
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"grep-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    out = bytearray()
    try:
        topics = [t for t in c.list_topics(timeout=10).topics if not t.startswith("__")]
        tps = []
        ends = {}
        for topic in topics:
            for p in c.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    tps.append(TopicPartition(topic, p, low))
                    ends[(topic, p)] = high
        c.assign(tps)
        remaining = set(ends)
        while remaining:
            msg = c.poll(5)
            if msg is None:
                break
            if msg.error():
                continue
            out += (msg.key() or b"") + (msg.value() or b"")
            for k, v in msg.headers() or []:
                out += k.encode() + (v or b"")
            if msg.offset() + 1 >= ends[(msg.topic(), msg.partition())]:
                remaining.discard((msg.topic(), msg.partition()))
        assert not remaining, f"could not read to the end of {remaining}"
    finally:
        c.close()
    return bytes(out)


def test_no_raw_token_survives_any_error_path(stack_settings: Settings, unique: str, tmp_path: Path) -> None:
    tokens = {
        name: f"RAW{unique}{i:02d}"
        for i, name in enumerate(
            ["bad_reason", "as_list", "single_quoted", "huge_meter_start", "parent", "bad_trigger"]
        )
    }
    tokens["too_long"] = f"RAWLONG{unique}0123456789"  # 25 characters: over 1.6's 20
    tokens["201_too_long"] = f"RAW201{unique}" + "x" * 40
    network = tmp_path / "network.yaml"
    network.write_text(yaml.safe_dump({"dev_mode": True, "stations": {}}))
    run = stack_settings.model_copy(update={"network_file": network})
    stack.up(run, say=lambda _line: None)
    try:
        replies = asyncio.run(_send(run.gateway_port, f"RED16-{unique}", "ocpp1.6", _frames_16(tokens)))
        replies += asyncio.run(_send(run.gateway_port, f"RED201-{unique}", "ocpp2.0.1", _frames_201(tokens)))
        dead = scalar(run, "SELECT 1")  # the sink answers: the stack is up
        topics = _all_topic_bytes(run.bootstrap)
        tables = {
            t: scalar(run, f"SELECT * FROM chargestream.`{t}` FORMAT TSVRaw")
            for t in scalar(run, "SHOW TABLES FROM chargestream").split()
        }
    finally:
        stack.down(run, say=lambda _line: None)
    assert dead == "1"
    # every frame was refused with a CallError (or, unreadable, got no answer) and dead-lettered
    assert all(r == "" or r.startswith("[4,") for r in replies), replies
    assert topics.count(b"RED16-" + unique.encode()) >= 6
    files = {p: p.read_bytes() for p in run.state_dir.rglob("*") if p.is_file()}
    assert any(p.name == "gateway.log" for p in files)
    for name, token in tokens.items():
        raw = token.encode()
        assert raw not in topics, f"{name}: raw token in a topic"
        for table, text in tables.items():
            assert token not in text, f"{name}: raw token in table {table}"
        for path, data in files.items():
            assert raw not in data, f"{name}: raw token in {path}"
    assert b"hmac:" in topics  # what stands in for them
