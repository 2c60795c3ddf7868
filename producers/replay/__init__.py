"""Replay of public charging-session datasets as the charger events they imply.

`load(path, fmt)` parses a file into ReplaySessions and the Defects met on the way (a parser never
raises on a bad row: it counts it); `events_for(sessions, meter_interval_s)` turns the sessions into
canonical events in station-time order. Both are pure; publishing lives in `producers.replay.runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from producers.replay import acn, boulder, dundee, paloalto
from producers.replay.events import DEFAULT_METER_INTERVAL_S, events_for, timeline
from producers.replay.model import REASONS, Action, Defects, ReplayFileError, ReplaySession
from producers.replay.truth import truth_lines

Parser = Callable[[Path, int | None], tuple[list[ReplaySession], Defects]]
PARSERS: dict[str, Parser] = {
    "acn": acn.parse,
    "boulder": boulder.parse,
    "dundee": dundee.parse,
    "paloalto": paloalto.parse,
}
FORMATS = tuple(PARSERS)
# File-name hints, checked in this order ("palo" before anything shorter could match).
_NAME_HINTS = (
    ("paloalto", "paloalto"),
    ("palo_alto", "paloalto"),
    ("acn", "acn"),
    ("caltech", "acn"),
    ("boulder", "boulder"),
    ("dundee", "dundee"),
)


def guess_format(path: Path) -> str | None:
    name = path.name.lower().replace("-", "_")
    return next((fmt for hint, fmt in _NAME_HINTS if hint in name), None)


def load(path: Path, fmt: str, limit: int | None = None) -> tuple[list[ReplaySession], Defects]:
    """The replayable sessions of a dataset file (the first `limit` rows only, when given)."""
    parser = PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return parser(path, limit)


__all__ = [
    "DEFAULT_METER_INTERVAL_S",
    "FORMATS",
    "REASONS",
    "Action",
    "Defects",
    "ReplayFileError",
    "ReplaySession",
    "events_for",
    "guess_format",
    "load",
    "timeline",
    "truth_lines",
]
