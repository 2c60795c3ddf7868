"""The maintenance stage's input: JSON news on the worker's by-station topic (readable with any consumer
when debugging), written by the worker's own agents only."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from schemas.records import Alert, Feedback, Resolution
from streams.maintenance import PortStatus, SessionOutcome, StationTime
from streams.maintenance.stage import StageNews

CareNews = StageNews
_KINDS: dict[type[Any], str] = {
    Feedback: "feedback",
    Alert: "alert",
    SessionOutcome: "session",
    PortStatus: "status",
    StationTime: "time",
    Resolution: "resolution",
}


def care_news(item: CareNews) -> bytes:
    body = item.to_dict() if isinstance(item, Feedback | Alert | Resolution) else asdict(item)
    return json.dumps({_KINDS[type(item)]: body}, separators=(",", ":"), sort_keys=True).encode()


def read_care_news(raw: bytes) -> CareNews:
    """A message of ours: anything else is a bug (this topic is written by the worker alone)."""
    data: dict[str, Any] = json.loads(raw)
    ((kind, body),) = data.items()
    if kind == "feedback":
        return Feedback.from_dict(body)
    if kind == "alert":
        return Alert.from_dict(body)
    if kind == "session":
        return SessionOutcome(**body)
    if kind == "status":
        return PortStatus(**body)
    if kind == "time":
        return StationTime(**body)
    if kind == "resolution":
        return Resolution.from_dict(body)
    raise ValueError(f"unknown maintenance news {kind!r}")
