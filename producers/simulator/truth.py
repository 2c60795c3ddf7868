"""Ground truth of a simulation, and its JSON lines (kind: session | incident | feedback). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from producers.simulator.incidents import Incident


@dataclass(frozen=True)
class TrueSession:
    """What really happened: times on the true clock (epoch ms), delivered energy as exact Wh."""

    station_id: str
    connector_id: int
    plugged_in_at: int
    charging_started_at: int | None  # None: nothing was delivered
    charging_ended_at: int | None
    unplugged_at: int
    energy_wh: int
    pitfalls: tuple[str, ...] = ()
    site_id: str | None = None
    transaction_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # pitfall parameters (offsets, reset time, …)


@dataclass(frozen=True)
class TrueFeedback:
    feedback_id: str
    station_id: str
    connector_id: int | None
    category: str
    submitted_at: int
    cause: str  # incident | idle_car | slow_session | noise
    incident_id: str | None = None
    session_plugged_in_at: int | None = None  # with connector_id: the session it is about


def session_line(t: TrueSession) -> dict[str, Any]:
    d = asdict(t)
    d["pitfalls"] = list(t.pitfalls)
    return {"kind": "session", **d}


def incident_line(i: Incident) -> dict[str, Any]:
    return {
        "kind": "incident",
        "incident_id": i.incident_id,
        "type": i.type,
        "site_id": i.site_id,
        "error_code": i.error_code,
        "vendor_error_code": i.vendor_error_code,
        "model": i.model,
        "firmware_version": i.firmware_version,
        "start": i.start,
        "end": i.end,
        "members": [asdict(m) for m in i.members],
    }


def feedback_line(f: TrueFeedback) -> dict[str, Any]:
    return {"kind": "feedback", **asdict(f)}


def iter_truth_lines(items: Iterable[TrueSession | Incident | TrueFeedback]) -> Iterator[dict[str, Any]]:
    for it in items:
        if isinstance(it, TrueSession):
            yield session_line(it)
        elif isinstance(it, Incident):
            yield incident_line(it)
        else:
            yield feedback_line(it)
