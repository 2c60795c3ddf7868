"""The webhook forwarder's retries: what may pass is retried with growing back-off under the same
idempotency key; what the receiver refuses for good is not retried."""

from __future__ import annotations

from chargestream.forward import Delivery, deliver, idempotency_key


def test_passing_failures_are_retried_with_back_off_under_one_key() -> None:
    answers = [Delivery(0, "refused"), Delivery(503, "busy"), Delivery(429, "slow down"), Delivery(200, "ok")]
    sent: list[str] = []
    waits: list[float] = []

    def send(_url: str, _body: bytes, key: str) -> Delivery:
        sent.append(key)
        return answers.pop(0)

    got = deliver("http://x", b"{}", "a:3", send=send, sleep=waits.append, first_backoff_s=0.5)
    assert got.status == 200 and sent == ["a:3"] * 4 and waits == [0.5, 1.0, 2.0]


def test_a_refusal_for_good_is_not_retried() -> None:
    calls: list[str] = []

    def send(_url: str, _body: bytes, key: str) -> Delivery:
        calls.append(key)
        return Delivery(400, "HTTP 400 Bad Request")

    assert deliver("http://x", b"{}", "a:1", send=send, sleep=lambda _s: None).status == 400
    assert calls == ["a:1"]


def test_back_off_is_capped() -> None:
    answers = [Delivery(503, "busy")] * 8 + [Delivery(204, "ok")]
    waits: list[float] = []
    deliver("http://x", b"{}", "k", send=lambda *_: answers.pop(0), sleep=waits.append, max_backoff_s=4.0)
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]


def test_the_key_names_the_alert_and_its_version() -> None:
    assert idempotency_key({"alert_id": "abc", "version": 7}) == "abc:7"
