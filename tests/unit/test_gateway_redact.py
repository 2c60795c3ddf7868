from __future__ import annotations

import json

from producers.gateway.redact import redact_tokens


def _h(token: str) -> str:
    return f"H({len(token)})"


def test_tokens_in_a_json_frame_are_replaced_wherever_they_are() -> None:
    frame = [
        2,
        "m1",
        "TransactionEvent",
        {
            "idToken": {"idToken": "04A2B3C4D5", "type": "ISO14443"},
            "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
            "meterValue": [{"sampledValue": [{"value": 1}]}],
        },
    ]
    out = json.loads(redact_tokens(json.dumps(frame).encode(), _h))
    body = out[3]
    assert body["idToken"]["idToken"] == "hmac:H(10)" and body["groupIdToken"]["idToken"] == "hmac:H(7)"
    assert body["meterValue"] == frame[3]["meterValue"]  # type: ignore[index]
    start = [2, "m2", "StartTransaction", {"connectorId": 1, "idTag": "SECRET-TAG", "meterStart": 5}]
    assert b"SECRET-TAG" not in redact_tokens(json.dumps(start).encode(), _h)


def test_a_frame_that_is_not_json_is_redacted_by_its_keys() -> None:
    broken = b'[2,"m3","Authorize",{"idTag":"SECRET-TAG", oops'
    out = redact_tokens(broken, _h)
    assert b"SECRET-TAG" not in out and b'"idTag":"hmac:H(10)"' in out and out.endswith(b"oops")
