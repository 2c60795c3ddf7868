"""Why a station connection ended, as published in ConnectionChange(False, reason)."""

from __future__ import annotations

from aiohttp import WebSocketError

from producers.gateway.server import lost_reason


def test_lost_reasons() -> None:
    assert lost_reason("gateway shutdown", (1000, ""), 1000, None, 60) == "gateway shutdown"
    assert lost_reason(None, None, 1006, TimeoutError("no pong"), 60) == "ping timeout (no pong within 30 s)"
    assert lost_reason(None, (1001, "rebooting"), 1001, None, 60) == "closed by station (1001: rebooting)"
    assert lost_reason(None, (1000, ""), 1000, None, 60) == "closed by station (1000)"
    too_big = WebSocketError(1009, "Decompressed message exceeds size limit 65536")
    assert lost_reason(None, None, 1006, too_big, 60) == "frame over 65536 bytes (1009)"
    assert lost_reason(None, None, 1009, None, 60) == "frame over 65536 bytes (1009)"
    assert lost_reason(None, None, 1006, ConnectionResetError("reset by peer"), 60) == (
        "connection error: reset by peer"
    )
    assert lost_reason(None, None, 1000, None, 60) == "connection lost (no close frame)"
