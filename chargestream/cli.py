"""`chargestream`: run the local stack, simulate a fleet, query the store.

Configuration comes from CHARGESTREAM_* environment variables (see `chargestream settings`);
an external cluster (CHARGESTREAM_KAFKA_BOOTSTRAP) or ClickHouse server (CHARGESTREAM_CLICKHOUSE_URL)
always wins over the local ones.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chargestream import kafka_local, stack
from chargestream.errors import SetupError
from chargestream.query import QueryError, run_query, scalar
from chargestream.settings import Settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
kafka_app = typer.Typer(help="The local Apache Kafka broker (jars from Maven Central).", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _say(text: str) -> None:
    console.print(text)


@app.command()
def up() -> None:
    """Start the local stack (broker, topics, stream worker, sink, query endpoint) in the background.

    Returns once every component is ready. Logs and pids live under the state folder;
    `chargestream down` stops them.
    """
    stack.up(Settings(), _say)


@app.command()
def down() -> None:
    """Stop every process of the local stack (by pid). Data stays in the state folder."""
    stack.down(Settings(), _say)


@app.command()
def status() -> None:
    """Show each component (running or not) and the consumer lag of the worker and the sink."""
    settings = Settings()
    rows = stack.status(settings)
    table = Table("component", "state", "pid", "detail", "lag")
    lag = stack.lags(settings) if rows[0].pid is not None or not settings.uses_local_broker else {}
    for r in rows:
        state = "[green]running[/]" if r.pid else "[red]stopped[/]"
        if r.name == "kafka" and not settings.uses_local_broker:
            state = "external"
        lag_text = "" if r.name not in lag else ("?" if lag[r.name] is None else str(lag[r.name]))
        table.add_row(r.name, state, str(r.pid or ""), r.detail, lag_text)
    console.print(table)


@app.command()
def sql(
    query: Annotated[
        str,
        typer.Argument(help='one read statement, e.g. "SELECT count() FROM chargestream.billing_records"'),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="ClickHouse output format "
            "(default: PrettyCompact on a terminal, else TabSeparatedWithNames)",
        ),
    ] = None,
) -> None:
    """Run an analyst query; works while the stack runs (through its endpoint) and when it is down."""
    fmt = fmt or ("PrettyCompact" if sys.stdout.isatty() else "TabSeparatedWithNames")
    try:
        out = run_query(Settings(), query, fmt)
    except QueryError as exc:
        err.print(f"[red]query failed:[/] {exc}")
        raise typer.Exit(1) from exc
    sys.stdout.write(out)


@app.command()
def simulate(
    stations: Annotated[int, typer.Option(help="stations in the fleet")] = 8,
    connectors: Annotated[int, typer.Option(help="connectors per station")] = 2,
    sessions: Annotated[int, typer.Option(help="sessions per connector")] = 4,
    seed: Annotated[int, typer.Option(help="same seed, same fleet, same events")] = 7,
    meter_interval: Annotated[int, typer.Option(help="seconds between meter values while charging")] = 60,
    truth: Annotated[
        Path | None, typer.Option(help="ground-truth JSON lines (default: state/truth/fleet-SEED.jsonl)")
    ] = None,
) -> None:
    """Simulate a fleet of chargers straight into Kafka and write the ground truth."""
    _simulate(Settings(), stations, connectors, sessions, seed, meter_interval, truth)


def _simulate(
    settings: Settings,
    stations: int,
    connectors: int,
    sessions: int,
    seed: int,
    meter_interval: int,
    truth: Path | None,
) -> tuple[int, int, Path]:
    from producers.fleet import FleetConfig, iter_truth_lines, simulate
    from producers.publisher import EventPublisher
    from schemas.codec import make_codec

    cfg = FleetConfig(stations, connectors, sessions, meter_interval, seed)
    events, truths = simulate(cfg)
    truth = truth or settings.state_dir / "truth" / f"fleet-{seed}.jsonl"
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w") as f:
        for line in iter_truth_lines(truths):
            f.write(json.dumps(line) + "\n")
    publisher = EventPublisher(settings.bootstrap, make_codec(settings.schema_registry_url))
    t0 = time.monotonic()
    with console.status(f"publishing {len(events)} events of {len(truths)} sessions") as st:
        publisher.publish_all(events, progress=lambda n: st.update(f"published {n}/{len(events)} events"))
    dt = time.monotonic() - t0
    console.print(
        f"published {len(events)} events ({len(events) / max(dt, 1e-9):,.0f}/s) for {len(truths)} sessions "
        f"on {stations}×{connectors} connectors; ground truth in {truth}"
    )
    return len(events), len(truths), truth


@app.command()
def demo(
    stations: Annotated[int, typer.Option(help="stations in the simulated fleet")] = 8,
    sessions: Annotated[int, typer.Option(help="sessions per connector")] = 4,
    seed: Annotated[int, typer.Option(help="fleet seed")] = 7,
    keep_running: Annotated[
        bool, typer.Option(help="leave the stack up afterwards for `chargestream sql`")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all billing records")] = 180.0,
) -> None:
    """The whole thing once: up, a simulated fleet, wait for billing, print a summary, down."""
    settings = Settings()
    t0 = time.monotonic()
    stack.up(settings, _say)
    try:
        _n_events, _n_sessions, truth_path = _simulate(settings, stations, 2, sessions, seed, 60, None)
        truths = [json.loads(ln) for ln in truth_path.read_text().splitlines()]
        prefix = f"SIM-{seed}-"
        where = f"station_id LIKE '{prefix}%'"
        deadline = time.monotonic() + timeout
        with console.status("waiting for billing records") as st:
            while True:
                n = int(
                    scalar(settings, f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}")
                    or 0
                )
                st.update(f"billing records: {n}/{len(truths)}")
                if n >= len(truths) or time.monotonic() > deadline:
                    break
                dead = [r.name for r in stack.status(settings) if r.pid is None and r.name != "kafka"]
                if dead:
                    raise SetupError(f"{', '.join(dead)} stopped during the demo; see {settings.logs_dir}")
                time.sleep(0.5)
        complete = _summary(settings, truths, where)
    finally:
        if not keep_running:
            stack.down(settings, _say)
    console.print(f"demo wall time {time.monotonic() - t0:.1f} s")
    if not complete:
        err.print("[red]not every simulated session was billed exactly: see the summary above[/]")
        raise typer.Exit(1)


def _summary(settings: Settings, truths: list[dict[str, object]], where: str) -> bool:
    """Print the summary; True when every true session was billed exactly."""
    out = run_query(
        settings,
        f"""
        SELECT station_id, connector_id, toUnixTimestamp64Milli(plugged_in_at), energy_wh
        FROM chargestream.billing_records FINAL WHERE {where}""",
        "TabSeparated",
    )
    billed = {
        (r[0], int(r[1]), int(r[2])): int(r[3]) for r in (ln.split("\t") for ln in out.splitlines() if ln)
    }
    exact = sum(
        1
        for t in truths
        if billed.get((str(t["station_id"]), int(str(t["connector_id"])), int(str(t["plugged_in_at"]))))
        == t["energy_wh"]
    )
    true_wh = sum(int(str(t["energy_wh"])) for t in truths)
    table = Table(title="chargestream demo summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("sessions (ground truth)", str(len(truths)))
    table.add_row("billing records", str(len(billed)))
    table.add_row("energy billed", f"{sum(billed.values()) / 1000:,.3f} kWh")
    table.add_row("energy true", f"{true_wh / 1000:,.3f} kWh")
    table.add_row("sessions exact to the Wh", f"{exact}/{len(truths)}")
    console.print(table)
    console.print(
        run_query(
            settings,
            f"""
        SELECT station_id, count() AS sessions, round(sum(energy_wh) / 1000, 3) AS kwh,
               round(avg(idle_minutes), 1) AS avg_idle_min, round(max(max_power_kw), 1) AS peak_kw
        FROM chargestream.billing_records FINAL WHERE {where}
        GROUP BY station_id ORDER BY station_id""",
            "PrettyCompactMonoBlock",
        )
    )
    return exact == len(truths) == len(billed)


@app.command()
def settings() -> None:
    """Print the effective configuration (and the env var for each knob)."""
    s = Settings()
    table = Table("env var", "value")
    for name, value in s.model_dump().items():
        table.add_row(f"CHARGESTREAM_{name.upper()}", "" if value is None else str(value))
    table.add_row("(kafka bootstrap in use)", s.bootstrap)
    table.add_row("(clickhouse in use)", s.clickhouse_dsn)
    console.print(table)


@kafka_app.command("fetch")
def kafka_fetch() -> None:
    """Resolve the broker jars from Maven Central into the state folder (cached; no-op when present)."""
    s = Settings()
    path = kafka_local.fetch_jars(s)
    console.print(f"Kafka {kafka_local.broker_version(s)} jars in {path}")


def main() -> None:
    try:
        app()
    except SetupError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
