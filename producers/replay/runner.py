"""The imperative shell of replay: load, write the ground truth, publish with a progress bar, report.

Kafka stays out of this module: the caller hands in anything with `publish` and `flush` (the
EventPublisher), or nothing for a dry run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.replay import events_for, load, truth_lines
from producers.replay.model import Defects
from producers.truth import write_truth
from schemas.events import ChargerEvent, TransactionEvent

PROGRESS_EVERY = 2_000  # events between progress-bar refreshes: per-event refreshes cost more than publishing


class EventSink(Protocol):
    def publish(self, ev: ChargerEvent) -> None: ...

    def flush(self, timeout: float = 60.0) -> None: ...


@dataclass(frozen=True)
class ReplayReport:
    path: Path
    fmt: str
    defects: Defects
    sessions: int
    events: int
    energy_wh: int
    stations: int
    connectors: int
    seconds: float
    published: bool
    truth_path: Path | None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def run_replay(
    path: Path,
    fmt: str,
    *,
    meter_interval_s: int,
    limit: int | None = None,
    truth_path: Path | None = None,
    sink: EventSink | None = None,
    console: Console | None = None,
) -> ReplayReport:
    """Replay one file; with no sink, events are generated and counted but go nowhere."""
    sessions, defects = load(path, fmt, limit)
    if truth_path is not None:
        write_truth(truth_path, truth_lines(sessions))
    verb = "published" if sink is not None else "generated"
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sessions · {task.fields[events]:,} events " + verb),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
    )
    events = done = 0
    t0 = time.perf_counter()
    with progress:
        task = progress.add_task(f"replay {path.name}", total=len(sessions), events=0)
        for ev in events_for(sessions, meter_interval_s):
            if sink is not None:
                sink.publish(ev)
            events += 1
            if isinstance(ev.payload, TransactionEvent) and ev.payload.event_type == "Ended":
                done += 1
            if events % PROGRESS_EVERY == 0:
                progress.update(task, completed=done, events=events)
        if sink is not None:
            progress.update(task, description="waiting for Kafka acks", completed=done, events=events)
            sink.flush()
        progress.update(task, completed=done, events=events)
    return ReplayReport(
        path=path,
        fmt=fmt,
        defects=defects,
        sessions=len(sessions),
        events=events,
        energy_wh=sum(s.energy_wh for s in sessions),
        stations=len({s.station_id for s in sessions}),
        connectors=len({(s.station_id, s.connector_id) for s in sessions}),
        seconds=time.perf_counter() - t0,
        published=sink is not None,
        truth_path=truth_path,
    )
