"""The gateway overrides `ocpp`'s `ChargePoint.route_message` (the library offers no hook to see a frame
it cannot parse, nor one to refuse a call before its handler, nor to bound its response queue) and uses
four of its private members. This test fails when the pinned library changes them, so an upgrade is a
decision, not a surprise: re-read the new method, adapt `producers/gateway/guard.py`, then update here.
"""

from __future__ import annotations

import hashlib
import inspect

import ocpp
from ocpp.charge_point import ChargePoint

# sha256 of inspect.getsource(ChargePoint.route_message) in ocpp 2.1.0 (what guard.py re-implements)
ROUTE_MESSAGE_SHA256 = "fe0bf07bdd2e1c9a7556bc2dae524da38f314bc9947ea7f7f9170412caf13dc2"
PRIVATE_MEMBERS_USED = ("_handle_call", "_send", "_response_queue", "_call_lock")


def test_the_overridden_method_is_the_one_guard_py_was_written_against() -> None:
    source = inspect.getsource(ChargePoint.route_message)
    assert hashlib.sha256(source.encode()).hexdigest() == ROUTE_MESSAGE_SHA256, (
        f"ocpp {getattr(ocpp, '__version__', '?')} changed ChargePoint.route_message: review guard.py"
    )


def test_the_private_members_guard_py_uses_still_exist() -> None:
    init = inspect.getsource(ChargePoint.__init__)
    for name in PRIVATE_MEMBERS_USED:
        assert hasattr(ChargePoint, name) or f"self.{name} =" in init, name
