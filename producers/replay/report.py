"""The replay report as rich tables: totals, then every defect reason with what was done about it."""

from __future__ import annotations

from rich.table import Table

from producers.replay.model import REASONS, Action
from producers.replay.runner import ReplayReport

_ACTION_STYLE = {Action.DROPPED: "red", Action.KEPT: "yellow", Action.INFO: "dim"}


def summary_table(r: ReplayReport) -> Table:
    d = r.defects
    table = Table(title=f"replay {r.path.name} ({r.fmt})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{d.rows_read:,}")
    table.add_row("sessions replayed", f"{r.sessions:,}")
    table.add_row("rows dropped", f"{d.dropped:,}")
    table.add_row("events published" if r.published else "events generated (dry run)", f"{r.events:,}")
    table.add_row("energy", f"{r.energy_wh / 1000:,.3f} kWh")
    table.add_row("stations / connectors", f"{r.stations} / {r.connectors}")
    table.add_row("throughput", f"{r.events_per_s:,.0f} events/s")
    if r.truth_path is not None:
        table.add_row("ground truth", str(r.truth_path))
    return table


def defects_table(r: ReplayReport) -> Table:
    table = Table(title="defects by reason")
    for col in ("reason", "rows", "action", "sample rows", "meaning"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for action in (Action.DROPPED, Action.KEPT, Action.INFO):
        for reason, n in r.defects.by_action(action).items():
            style = _ACTION_STYLE[action]
            table.add_row(
                reason,
                f"{n:,}",
                f"[{style}]{action.value}[/]",
                ", ".join(map(str, r.defects.samples.get(reason, []))),
                REASONS[reason].meaning,
            )
    return table
