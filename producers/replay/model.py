"""What a dataset parser hands to the event generator: typed sessions and the defects it met. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Action(Enum):
    DROPPED = "dropped"  # the row is not replayed
    KEPT = "kept"  # replayed, with something fixed or ignored (the note says what)
    INFO = "info"  # replayed as is; a property of the data worth counting


@dataclass(frozen=True, slots=True)
class Reason:
    action: Action
    meaning: str


# One action per reason, so the report can say what happened to every counted row.
REASONS: dict[str, Reason] = {
    "unparseable": Reason(Action.DROPPED, "a field could not be read (bad date, number or missing column)"),
    "end_before_start": Reason(Action.DROPPED, "unplug before plug-in"),
    "zero_duration_with_energy": Reason(Action.DROPPED, "energy delivered in no time at all"),
    "negative_energy": Reason(Action.DROPPED, "negative kWh"),
    "no_end": Reason(Action.DROPPED, "no end and no kWh: still running at export"),
    "duplicate": Reason(Action.DROPPED, "same station, start, end and kWh as an earlier row"),
    "duplicate_start": Reason(
        Action.DROPPED, "same (CP, connector, start) as a row with more energy (kept instead)"
    ),
    "overlap_same_start": Reason(Action.DROPPED, "plugged in on an occupied connector at the same time"),
    "test_site": Reason(Action.DROPPED, "operator test site, not a public session"),
    "done_charging_missing": Reason(Action.INFO, "no charging-done time: charging lasts until unplug"),
    "done_after_disconnect": Reason(
        Action.KEPT, "charging-done time after unplug: ignored, charging lasts until unplug"
    ),
    "done_before_connection": Reason(
        Action.KEPT, "charging-done time before plug-in: ignored, charging lasts until unplug"
    ),
    "charging_exceeds_total": Reason(
        Action.KEPT, "charging time > total duration: charging lasts until unplug"
    ),
    "end_equals_start": Reason(
        Action.KEPT, "end = start (minute-truncated times): unplug = start + total duration"
    ),
    "duration_mismatch": Reason(
        Action.KEPT, "end − start differs from the total duration by ≥ 2 min: end time used"
    ),
    "zone_label_mismatch": Reason(Action.KEPT, "MST/MDT label disagrees with the zone's rules: label used"),
    "dst_crossing": Reason(Action.KEPT, "spans a DST change: each local time read in its own offset"),
    "dst_gap": Reason(Action.KEPT, "local time in the spring-forward gap: read with the pre-change offset"),
    "overlap_truncated": Reason(
        Action.KEPT, "still plugged in when the next car plugged in: unplug moved to that plug-in"
    ),
    "over_24h": Reason(Action.INFO, "plugged in for more than 24 h"),
    "zero_energy": Reason(Action.INFO, "0 kWh: a real visit that got no energy"),
    "missing_user": Reason(Action.INFO, "no user id"),
    "extra_connector": Reason(
        Action.INFO, "overlapped another session of the station: put on connector ≥ 2 (no port id in data)"
    ),
}
SAMPLE_ROWS = 5


class ReplayFileError(ValueError):
    """The file as a whole is not an export of the format asked for (bad JSON, missing columns)."""


@dataclass
class Defects:
    """Counts of defect reasons (a dropped row counts once; a kept row may carry several notes)."""

    rows_read: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[int]] = field(default_factory=dict)

    def count(self, reason: str, row: int) -> None:
        if reason not in REASONS:
            raise KeyError(f"unknown defect reason {reason!r}")
        self.counts[reason] += 1
        rows = self.samples.setdefault(reason, [])
        if len(rows) < SAMPLE_ROWS:
            rows.append(row)

    @property
    def dropped(self) -> int:
        return sum(n for r, n in self.counts.items() if REASONS[r].action is Action.DROPPED)

    def by_action(self, action: Action) -> dict[str, int]:
        return {r: n for r, n in sorted(self.counts.items()) if REASONS[r].action is action}


@dataclass(frozen=True, slots=True)
class ReplaySession:
    """One real session as a charger would have lived it. Times are epoch ms (UTC)."""

    dataset: str
    source_row: int  # 1-based data row (header not counted; ACN: index in _items + 1)
    station_id: str
    connector_id: int
    site_id: str
    time_zone: str
    plugged_in_at: int
    unplugged_at: int
    energy_wh: int
    charging_ended_at: int | None = None  # the data's "done charging" time, when known and plausible
    charging_s: int | None = None  # the data's charging duration, when it has one instead
    user_ref: str | None = None  # a hash, never the dataset's user id
    notes: tuple[str, ...] = ()  # kept-defect reasons of this row
    station_model: str | None = None
    max_power_kw: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    stop_reason: str | None = None  # OCPP 2.0.1 ReasonEnum, where the data says why it ended
