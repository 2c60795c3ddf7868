"""`alerts forward` against a real webhook receiver and the real broker: every alert version arrives,
retried through a receiver's outage under one idempotency key, in order; a record the receiver refuses
for good goes to the DLQ with its reason; nothing is committed before the receiver accepted it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import Producer

from chargestream.forward import forward
from chargestream.kafka_local import free_port
from schemas.topics import ALERTS_FAULTS, dlq
from tests.integration.test_fault_alerts import _read_all


def test_every_alert_version_reaches_the_webhook_once_acknowledged(kafka_topics: str, unique: str) -> None:
    received: list[tuple[str, dict[str, object]]] = []
    failures = {"left": 3}  # the receiver is down for its first three requests

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_response(503)
            elif body.get("summary") == "refuse me":
                self.send_response(422)
            else:
                received.append((self.headers["Idempotency-Key"], body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alerts = [
        {"alert_id": f"fw-{unique}", "type": "connector_fault", "status": s, "version": v, "summary": "x"}
        for v, s in ((1, "opened"), (2, "resolved"))
    ] + [{"alert_id": f"fw-bad-{unique}", "type": "connector_fault", "version": 1, "summary": "refuse me"}]
    producer = Producer({"bootstrap.servers": kafka_topics})
    for a in alerts:
        producer.produce(ALERTS_FAULTS, key=b"ST", value=json.dumps(a).encode())
    producer.flush(10)
    deadline = time.monotonic() + 60
    done: list[str] = []
    try:
        forward(
            kafka_topics,
            f"http://127.0.0.1:{server.server_port}/hook",
            f"fw-{unique}",
            from_beginning=True,
            first_backoff_s=0.05,
            on_delivered=lambda key, _got: done.append(key),
            stop=lambda: f"fw-bad-{unique}:1" in done or time.monotonic() > deadline,
        )
    finally:
        server.shutdown()
    ours = [(k, b) for k, b in received if str(b["alert_id"]).endswith(unique)]
    assert [k for k, _ in ours] == [f"fw-{unique}:1", f"fw-{unique}:2"]  # once each, in order
    assert failures["left"] == 0  # the outage was ridden out
    refused = [
        m for m in _read_all(kafka_topics, dlq(ALERTS_FAULTS)) if unique.encode() in (m.value() or b"")
    ]
    assert len(refused) == 1
    assert dict(refused[0].headers() or [])["dlq.reason"].startswith(b"HTTP 422")
