"""`chargestream alerts forward`: every alert state change to a webhook, at least once, in order per
alert, each POST carrying an idempotency key (`alert_id:version`) so a receiver that saw a delivery
twice can tell.

The forwarder is a consumer group of its own (`--group`): it commits an offset only after the receiver
accepted everything before it, so a restart resends what was not acknowledged and skips nothing.
Failures that may pass (connection refused, timeouts, 408, 429, 5xx) are retried with exponential
back-off, as long as it takes; a receiver that refuses a record for good (other 4xx) gets it once, and
the record goes to the alert topic's DLQ with the receiver's answer as the reason.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from schemas.dlq import dlq_headers
from schemas.topics import ALERT_TOPICS, dlq

log = logging.getLogger(__name__)
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Delivery:
    status: int  # HTTP status; 0: no answer (connection refused, timeout)
    reason: str


def post(url: str, body: bytes, key: str, timeout: float = 10.0) -> Delivery:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "chargestream"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Delivery(resp.status, "ok")
    except urllib.error.HTTPError as exc:
        return Delivery(exc.code, f"HTTP {exc.code} {exc.reason}")
    except OSError as exc:
        return Delivery(0, f"no answer: {exc}")


def idempotency_key(alert: dict[str, object]) -> str:
    return f"{alert.get('alert_id')}:{alert.get('version')}"


def deliver(
    url: str,
    body: bytes,
    key: str,
    *,
    send: Callable[[str, bytes, str], Delivery] = post,
    sleep: Callable[[float], None] = time.sleep,
    first_backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
    stop: Callable[[], bool] = lambda: False,
) -> Delivery:
    """POST until the receiver accepts it or refuses it for good (or ``stop``)."""
    backoff = first_backoff_s
    while True:
        got = send(url, body, key)
        if 200 <= got.status < 300 or (got.status and got.status not in RETRYABLE) or stop():
            return got
        log.warning("webhook %s: %s; retrying %s in %.1f s", url, got.reason, key, backoff)
        sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)


def forward(
    bootstrap: str,
    url: str,
    group: str,
    *,
    from_beginning: bool = False,
    stop: Callable[[], bool] = lambda: False,
    on_delivered: Callable[[str, Delivery], None] = lambda _key, _got: None,
    first_backoff_s: float = 0.5,
) -> None:
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    dead_letters = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    consumer.subscribe(list(ALERT_TOPICS))
    try:
        while not stop():
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            body = msg.value() or b""
            try:
                alert = json.loads(body)
                key = idempotency_key(alert)
            except (ValueError, AttributeError):
                got = Delivery(0, "not an alert record (JSON object)")
            else:
                got = deliver(url, body, key, stop=stop, first_backoff_s=first_backoff_s)
                if stop() and not 200 <= got.status < 300:
                    return  # not committed: a restart sends it again
                on_delivered(key, got)
            if not 200 <= got.status < 300:
                log.error(
                    "alert %s@%d refused for good: %s (to the DLQ)", msg.topic(), msg.offset(), got.reason
                )
                topic = msg.topic() or ALERT_TOPICS[0]
                headers = dlq_headers(
                    got.reason, topic, msg.partition() or 0, msg.offset() or 0, "alerts-forward"
                )
                dead_letters.produce(dlq(topic), key=msg.key(), value=body, headers=list(headers))
                dead_letters.flush(10)
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
        dead_letters.flush(10)
