"""Ground truth of a replay: what the pipeline should bill and measure per session. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from producers.replay.events import timeline, transaction_id
from producers.replay.model import ReplaySession
from schemas.events import MINUTE_MS


def truth_line(s: ReplaySession) -> dict[str, Any]:
    """One JSON-lines record; times are epoch ms. Idle is known only when the data says when
    charging finished (`charging_done_known`); otherwise it is null, not zero."""
    tl = timeline(s)
    idle = None
    if tl.done_known and tl.charging_ended_at is not None:
        idle = (s.unplugged_at - tl.charging_ended_at) / MINUTE_MS
    return {
        "kind": "session",
        "dataset": s.dataset,
        "source_row": s.source_row,
        "transaction_id": transaction_id(s),
        "station_id": s.station_id,
        "connector_id": s.connector_id,
        "site_id": s.site_id,
        "plugged_in_at": s.plugged_in_at,
        "charging_started_at": tl.charging_started_at,
        "charging_ended_at": tl.charging_ended_at,
        "unplugged_at": s.unplugged_at,
        "energy_wh": s.energy_wh,
        "charging_done_known": tl.done_known,
        "expected_idle_minutes": idle,
        "notes": list(s.notes),
    }


def truth_lines(sessions: Iterable[ReplaySession]) -> Iterator[dict[str, Any]]:
    return (truth_line(s) for s in sessions)
