"""The fault stages' internal messages and saved states: JSON news on the by-site and by-model
topics (readable with any consumer when debugging), pickled stage states in their Faust tables (our own
changelog, read back by this code only, like the station states)."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from typing import Any

from schemas.records import Alert
from streams.faults.site_incidents import StationSeen

STAGE_STATE_VERSION = 2  # bump when SiteFaults or ModelFaults change shape


def station_news(seen: StationSeen) -> bytes:
    return json.dumps({"station": asdict(seen)}, separators=(",", ":")).encode()


def alert_news(alert: Alert) -> bytes:
    return json.dumps({"alert": alert.to_dict()}, separators=(",", ":"), sort_keys=True).encode()


def alert_json(alert: Alert) -> bytes:
    """The alert record as ops receive it on `alerts.*` (ARCHITECTURE.md §4)."""
    return json.dumps(alert.to_dict(), separators=(",", ":"), sort_keys=True).encode()


def read_news(raw: bytes) -> StationSeen | Alert:
    """A message of ours: anything else is a bug (this topic is written by the worker alone)."""
    data: dict[str, Any] = json.loads(raw)
    if "station" in data:
        return StationSeen(**data["station"])
    return Alert.from_dict(data["alert"])


def dump_stage(state: object) -> bytes:
    return bytes([STAGE_STATE_VERSION]) + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def load_stage(raw: bytes | None) -> Any:
    if not raw or raw[0] != STAGE_STATE_VERSION:
        return None  # none yet, or an older shape: the stage starts afresh (it re-learns from news)
    return pickle.loads(raw[1:])  # our own changelog, written by this code
