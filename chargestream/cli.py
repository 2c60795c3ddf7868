"""`chargestream`: run the local stack, simulate a fleet, query the store.

Configuration comes from CHARGESTREAM_* environment variables (see `chargestream settings`);
an external cluster (CHARGESTREAM_KAFKA_BOOTSTRAP) or ClickHouse server (CHARGESTREAM_CLICKHOUSE_URL)
always wins over the local ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chargestream import kafka_local, stack
from chargestream.alerts import AlertFilter
from chargestream.query import QueryError, run_query, run_query_bytes, scalar
from chargestream.settings import Settings
from chargestream.terminal import terminal_safe
from schemas.errors import SetupError

if TYPE_CHECKING:
    from producers.replay.runner import ReplayReport
    from producers.simulator import FleetConfig

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
kafka_app = typer.Typer(help="The local Apache Kafka broker (jars from Maven Central).", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
stations_app = typer.Typer(
    help="The stations file (CHARGESTREAM_NETWORK_FILE): sites, stations, tariffs.", no_args_is_help=True
)
app.add_typer(stations_app, name="stations")
alerts_app = typer.Typer(
    help="Alerts for ops: the open ones (ClickHouse), the live ones (Kafka alerts.*).", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")
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
    tty = sys.stdout.isatty()
    fmt = fmt or ("PrettyCompact" if tty else "TabSeparatedWithNames")
    try:
        out = run_query_bytes(Settings(), query, fmt)
    except QueryError as exc:
        err.print(f"[red]query failed:[/] {escape(terminal_safe(str(exc)))}")
        raise typer.Exit(1) from exc
    if not tty:  # piped or redirected: the engine's bytes, exactly (Parquet, Arrow, Native too)
        sys.stdout.buffer.write(out)
        return
    try:
        text = out.decode()
    except UnicodeDecodeError:
        err.print(
            f"[red]{escape(fmt)} is a binary format:[/] redirect it to a file, e.g. `chargestream sql ... "
            f"-f {escape(fmt)} > out.{escape(fmt.lower())}`"
        )
        raise typer.Exit(1) from None
    # On a terminal, data cannot drive it (escape sequences in a comment).
    sys.stdout.write(terminal_safe(text))


@app.command()
def simulate(
    stations: Annotated[int, typer.Option(min=1, help="stations in the fleet")] = 8,
    connectors: Annotated[int, typer.Option(min=1, help="connectors per station")] = 2,
    sessions: Annotated[
        int, typer.Option(min=0, help="sessions per connector (0: as many as arrive within --hours)")
    ] = 4,
    hours: Annotated[
        float | None, typer.Option(help="arrival horizon in hours (default with --sessions 0: 24)")
    ] = None,
    sites: Annotated[int | None, typer.Option(min=1, help="sites (default: one per 4 stations)")] = None,
    dc_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of DC fast chargers")] = 0.25,
    seed: Annotated[int, typer.Option(help="same seed, same fleet, same events")] = 7,
    meter_interval: Annotated[int, typer.Option(min=1, help="seconds between meter values")] = 60,
    via: Annotated[
        str, typer.Option(help="kafka (straight onto the topics) | ocpp (clients of the gateway)")
    ] = "kafka",
    speed: Annotated[
        float, typer.Option(min=0.0, help="release events at simulated time / SPEED (0: as fast as possible)")
    ] = 0.0,
    ocpp: Annotated[
        str, typer.Option(help="with --via ocpp: the stations' version, 1.6 | 2.0.1 | mixed")
    ] = "1.6",
    pitfalls: Annotated[str, typer.Option(help="pitfall rates: none | moderate | heavy")] = "none",
    pitfall: Annotated[
        list[str] | None,
        typer.Option(help="one pitfall's rate on top, NAME=RATE (repeatable), e.g. missing_stop=0.1"),
    ] = None,
    incidents: Annotated[str, typer.Option(help="fault incidents: none | moderate | heavy")] = "none",
    feedback: Annotated[bool, typer.Option(help="driver feedback reports (driver.feedback)")] = False,
    start: Annotated[
        str | None,
        typer.Option(
            help="simulated start, ISO 8601 or 'now' (default: 2026-11-01Z via kafka, now via ocpp)"
        ),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="ground-truth JSON lines (default: state/truth/fleet-SEED.jsonl)")
    ] = None,
) -> None:
    """Simulate a fleet of chargers (calibrated to public session data; pitfalls, incidents and driver
    feedback on request) into Kafka or through the OCPP gateway, and write the ground truth."""
    from producers.simulator import INCIDENT_PRESETS, PRESETS, FeedbackRates, FleetConfig
    from producers.simulator.pitfalls import parse_rates

    if pitfalls not in PRESETS or incidents not in INCIDENT_PRESETS:
        raise typer.BadParameter(
            f"presets are {', '.join(PRESETS)}", param_hint="'--pitfalls' / '--incidents'"
        )
    try:
        rates = parse_rates(pitfall or [], PRESETS[pitfalls])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--pitfall'") from exc
    cfg = FleetConfig(
        stations=stations,
        connectors_per_station=connectors,
        sessions_per_connector=sessions or None,
        meter_interval_s=meter_interval,
        seed=seed,
        # the gateway stamps receive times with its own clock: OCPP stations start at the real now
        start_ms=_start_ms(start or ("now" if via == "ocpp" else None)),
        hours=hours if hours is not None or sessions else 24.0,
        sites=sites,
        dc_share=dc_share,
        pitfalls=rates,
        incidents=INCIDENT_PRESETS[incidents],
        feedback=FeedbackRates() if feedback else FeedbackRates.none(),
    )
    _simulate(Settings(), cfg, via, speed, truth, ocpp)


def _start_ms(start: str | None) -> int:
    from producers.simulator import BASE_TIME_MS

    if start is None:
        return BASE_TIME_MS
    if start == "now":
        return int(time.time()) * 1000
    try:
        from datetime import UTC, datetime

        dt = datetime.fromisoformat(start)
        return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)
    except ValueError as exc:
        raise typer.BadParameter(f"{start!r} is not ISO 8601 or 'now'", param_hint="'--start'") from exc


def _simulate(
    settings: Settings,
    cfg: FleetConfig,
    via: str = "kafka",
    speed: float = 0.0,
    truth: Path | None = None,
    ocpp_version: str = "1.6",
) -> tuple[int, int, Path]:
    from producers.publisher import DeliveryFailed
    from producers.simulator.runner import OCPP_VERSIONS, VIAS, SimulationRefused, run_simulation
    from schemas.codec import make_codec

    if via not in VIAS:
        raise typer.BadParameter(f"one of {', '.join(VIAS)}", param_hint="'--via'")
    if ocpp_version not in OCPP_VERSIONS:
        raise typer.BadParameter(f"one of {', '.join(OCPP_VERSIONS)}", param_hint="'--ocpp'")
    truth = truth or settings.state_dir / "truth" / f"fleet-{cfg.seed}.jsonl"
    try:
        with console.status(f"simulating {cfg.stations} stations, sending via {via}") as st:
            report = run_simulation(
                cfg,
                via=via,
                truth_path=truth,
                bootstrap=settings.bootstrap,
                codec=make_codec(settings.schema_registry_url),
                gateway_url=f"ws://{settings.gateway_host}:{settings.gateway_port}",
                speed=speed or None,
                ocpp_version=ocpp_version,
                progress=st.update,
            )
    except DeliveryFailed as exc:
        raise SetupError(f"Kafka at {settings.bootstrap} did not take the events: {exc}") from exc
    except SimulationRefused as exc:
        raise SetupError(str(exc)) from exc
    console.print(
        f"{'published' if via == 'kafka' else 'sent through OCPP'} {report.events} events "
        f"({report.per_second:,.0f}/s) for {report.sessions} sessions on "
        f"{cfg.stations}×{cfg.connectors_per_station} connectors, {report.incidents} incidents, "
        f"{report.feedback} feedback reports; ground truth in {truth}"
    )
    for line in report.refused[:10]:
        err.print(f"[yellow]refused by the gateway:[/] {line}")
    return report.events, report.sessions, truth


@app.command()
def replay(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="a session export (see shared/datasets/README.md)",
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="acn | boulder | dundee | paloalto (default: from the file name)"
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="replay only the first N rows of the file")] = None,
    meter_interval: Annotated[
        int, typer.Option(min=1, help="seconds between meter values while charging")
    ] = 900,
    truth: Annotated[
        Path | None, typer.Option(help="ground-truth JSON lines (default: state/truth/replay-FORMAT.jsonl)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="parse, generate and report; publish nothing")
    ] = False,
) -> None:
    """Replay a public charging-session dataset as charger events into Kafka, with a defect report."""
    _replay(Settings(), file, fmt, limit, meter_interval, truth, dry_run)


def _replay(
    settings: Settings,
    file: Path,
    fmt: str | None,
    limit: int | None,
    meter_interval: int,
    truth: Path | None,
    dry_run: bool,
) -> ReplayReport:
    from producers.publisher import DeliveryFailed
    from producers.replay import FORMATS, ReplayFileError, guess_format
    from producers.replay.report import defects_table, summary_table
    from producers.replay.runner import run_replay

    if fmt is None:
        fmt = guess_format(file)
        if fmt is None:
            raise typer.BadParameter(
                f"cannot tell the format from the name {file.name!r}; pass one of {', '.join(FORMATS)}",
                param_hint="'--format'",
            )
        console.print(f"format {fmt} (guessed from the file name; --format to override)")
    elif fmt not in FORMATS:
        raise typer.BadParameter(
            f"unknown format {fmt!r}; one of {', '.join(FORMATS)}", param_hint="'--format'"
        )
    truth = truth or settings.state_dir / "truth" / f"replay-{fmt}.jsonl"
    publisher = None
    if not dry_run:
        from producers.publisher import EventPublisher
        from schemas.codec import make_codec
        from schemas.topics import ensure_topics

        ensure_topics(settings.bootstrap, settings.topic_partitions)  # SetupError when Kafka is not up
        publisher = EventPublisher(settings.bootstrap, make_codec(settings.schema_registry_url))
    try:
        report = run_replay(
            file,
            fmt,
            meter_interval_s=meter_interval,
            limit=limit,
            truth_path=truth,
            sink=publisher,
            console=console,
        )
    except ReplayFileError as exc:
        raise typer.BadParameter(f"{exc} (is --format {fmt} right?)", param_hint="FILE") from exc
    except DeliveryFailed as exc:
        raise SetupError(f"Kafka at {settings.bootstrap} did not take the events: {exc}") from exc
    console.print(summary_table(report))
    console.print(defects_table(report))
    return report


@app.command()
def demo(
    stations: Annotated[int, typer.Option(help="stations in the simulated fleet")] = 8,
    sessions: Annotated[int, typer.Option(help="sessions per connector")] = 4,
    seed: Annotated[int, typer.Option(help="fleet seed")] = 7,
    keep_running: Annotated[
        bool, typer.Option(help="leave the stack up afterwards for `chargestream sql`")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all billing records")] = 180.0,
    pitfalls: Annotated[
        str,
        typer.Option(
            help="pitfall rates of the fleet: none | moderate | heavy (billing exactness needs none)"
        ),
    ] = "none",
    incidents: Annotated[
        str,
        typer.Option(
            help="incident rates (faults, flapping, site outages, bursts, model clusters): "
            "none | moderate | heavy"
        ),
    ] = "heavy",
    feedback: Annotated[bool, typer.Option(help="drivers report what they meet (driver.feedback)")] = True,
    report: Annotated[
        Path | None,
        typer.Option(
            help="the HTML report of the run (`chargestream report`); default: STATE_DIR/report.html"
        ),
    ] = None,
) -> None:
    """The whole thing once: up, a simulated fleet with incidents and driver feedback, wait for billing
    and alerts, print a summary (billing against the ground truth; incidents injected vs alerted,
    dispatches, the worst ports by uptime), write the HTML report of those days, down."""
    from producers.simulator import INCIDENT_PRESETS, PRESETS, FeedbackRates, FleetConfig

    if pitfalls not in PRESETS:
        raise typer.BadParameter(f"one of {', '.join(PRESETS)}", param_hint="'--pitfalls'")
    if incidents not in INCIDENT_PRESETS:
        raise typer.BadParameter(f"one of {', '.join(INCIDENT_PRESETS)}", param_hint="'--incidents'")
    settings = Settings()
    t0 = time.monotonic()
    stack.up(settings, _say)
    try:
        # Each demo run is a fleet of its own (stations "SIM-<seed>r<minute>-…"). It starts now, or an hour
        # after the last event an earlier run left if that is later (a simulated fleet runs days ahead):
        # the worker's partitions keep one clock for all their stations, and an earlier fleet's later
        # events would tell it that this fleet's stations fell silent when they merely ended.
        now_min = int(time.time()) // 60
        start_ms = max(now_min * 60_000, _latest_event_ms(settings) // 60_000 * 60_000 + 3_600_000)
        tag = f"r{now_min % 1_000_000}"
        cfg = FleetConfig(
            stations,
            2,
            sessions,
            60,
            seed,
            start_ms=start_ms,
            pitfalls=PRESETS[pitfalls],
            run_tag=tag,
            incidents=INCIDENT_PRESETS[incidents],
            # Most drivers who meet a broken charger say so here: the demo shows dispatches.
            feedback=FeedbackRates(incident_report=0.8, idle_report=0.8)
            if feedback
            else FeedbackRates.none(),
        )
        _n_events, _n_sessions, truth_path = _simulate(settings, cfg)
        lines = [json.loads(ln) for ln in truth_path.read_text().splitlines()]
        truths = [t for t in lines if t["kind"] == "session"]
        where = f"station_id LIKE 'SIM-{seed}{tag}-%'"
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
        _ops(settings, lines, f"SIM-{seed}{tag}-", f"SITE-{seed}{tag}-")
        # The analysts' view of the same store: every day this fleet ran (earlier runs of those days too).
        first = datetime.fromtimestamp(start_ms / 1000, UTC).date()
        _write_report(settings, report or settings.state_dir / "report.html", first, None, "")
    finally:
        if not keep_running:
            stack.down(settings, _say)
    console.print(f"demo wall time {time.monotonic() - t0:.1f} s")
    if not complete:
        err.print("[red]not every simulated session was billed exactly: see the summary above[/]")
        raise typer.Exit(1)


def _latest_event_ms(settings: Settings) -> int:
    """The newest event time the store holds (0 when empty)."""
    return int(
        scalar(
            settings,
            # (a station clock set decades ahead, as pitfalls make them, is not a fleet's end)
            "WITH now64(3) + toIntervalDay(60) AS cap SELECT toUnixTimestamp64Milli(greatest("
            "(SELECT max(station_time) FROM chargestream.status_changes WHERE station_time < cap), "
            "(SELECT max(station_time) FROM chargestream.station_events WHERE station_time < cap)))",
        )
        or 0
    )


def _ops(settings: Settings, lines: list[dict[str, Any]], stations: str, sites: str) -> None:
    """Incidents injected vs alerted, dispatches, worst ports, once the alerts stop coming."""
    from chargestream import ops_summary

    where = ops_summary.fleet_where(stations, sites)
    with console.status("waiting for the alerts to settle") as st:
        seen, still, deadline = -1, 0, time.monotonic() + 60
        while still < 3 and time.monotonic() < deadline:
            n = ops_summary.alerts_settled(settings, where)
            still = still + 1 if n == seen else 0
            seen = n
            st.update(f"alert states stored: {n}")
            time.sleep(1)
    incidents = [ln for ln in lines if ln["kind"] == "incident"]
    console.print(ops_summary.incidents_table(incidents, ops_summary.raised(settings, where)))
    console.print(ops_summary.dispatch_line(settings, stations))
    console.print("worst ports by uptime (month, UTC):")
    console.print(ops_summary.worst_ports(settings, stations))


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
    money = scalar(
        settings,
        "SELECT sum(cost_total_incl_vat), any(currency), countIf(has(quality_flags, 'not_billable')) "
        f"FROM chargestream.billing_records FINAL WHERE {where}",
    ).split("\t")
    if len(money) == 3:
        table.add_row("billed incl. VAT (demo tariff)", f"{float(money[0]):,.2f} {money[1]}")
        table.add_row("not billable (short / zero)", money[2])
    alerts = scalar(
        settings,
        "SELECT countIf(status = 'opened'), countIf(status = 'escalated') "
        f"FROM chargestream.alerts WHERE type = 'idle' AND {where}",
    ).split("\t")
    if len(alerts) == 2:
        table.add_row("idle alerts opened / escalated", f"{alerts[0]} / {alerts[1]}")
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
def report(
    out: Annotated[Path, typer.Option(help="the HTML file to write")] = Path("report.html"),
    since: Annotated[
        str | None, typer.Option(help="first local day, YYYY-MM-DD (default: the first day with data)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="last local day, included (default: the last day with data)")
    ] = None,
    site: Annotated[str | None, typer.Option(help="one site only (default: the whole network)")] = None,
) -> None:
    """Write one self-contained HTML report, rendered from ClickHouse: peak hours per site, energy per
    day, session duration and charging speed, idle time and its worst offenders, uptime per port, a
    fault timeline, billing by tariff component. It opens offline in any browser (no script, nothing
    fetched). Works while the stack runs and when it is down.

    Example: chargestream report --out november.html --since 2026-11-01 --until 2026-11-30
    """

    def day(text: str | None, name: str) -> date | None:
        try:
            return None if text is None else date.fromisoformat(text)
        except ValueError as exc:
            raise typer.BadParameter("a day as YYYY-MM-DD, e.g. 2026-11-30", param_hint=name) from exc

    _write_report(Settings(), out, day(since, "'--since'"), day(until, "'--until'"), site or "")


def _write_report(settings: Settings, out: Path, first: date | None, last: date | None, site: str) -> None:
    from datetime import timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chargestream.report.build import STEPS, build, default_period
    from chargestream.report.queries import Period

    def fetch(sql: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(run_query(settings, sql, "JSON", dict(params)))["data"]
        return rows

    try:
        whole = default_period(fetch, site)
        period = Period(first or whole.since, last + timedelta(days=1) if last else whole.until, site)
        if period.until <= period.since:
            raise typer.BadParameter(f"--until {last} is before --since {period.since}")
        with Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("report", total=STEPS)

            steps = iter(range(STEPS))

            def step(what: str) -> None:  # called before each part: the parts before it are done
                bar.update(task, description=what, completed=next(steps))

            html = build(fetch, period, _redacted(settings.clickhouse_dsn), step)
            bar.update(task, completed=STEPS)
    except QueryError as exc:
        err.print(f"[red]the report's query failed:[/] {escape(terminal_safe(str(exc)))}")
        raise typer.Exit(1) from exc
    out.write_text(html, encoding="utf-8")
    console.print(
        f"report of {period.since} to {period.until - timedelta(days=1)} written to {escape(str(out))} "
        f"({len(html.encode()) / 1024:,.0f} KiB)"
    )


def _redacted(dsn: str) -> str:
    """The store's address as a report may print it: no user or password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc)) if parts.netloc else dsn


@app.command()
def settings() -> None:
    """Print the effective configuration (and the env var for each knob)."""
    s = Settings()
    table = Table("env var", "value")
    for name, value in s.model_dump().items():
        table.add_row(f"CHARGESTREAM_{name.upper()}", "" if value is None else _masked(str(value)))
    table.add_row("(kafka bootstrap in use)", s.bootstrap)
    table.add_row("(clickhouse in use)", _masked(s.clickhouse_dsn))
    console.print(table)


def _masked(value: str) -> str:
    """A URL's password as *** (a terminal, a shared screen, a pasted issue); anything else as it is."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    user = parts.username or ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@app.command()
def cdr(
    session_id: Annotated[str, typer.Argument(help="billing_records.session_id")],
    out: Annotated[Path | None, typer.Option(help="write the JSON here instead of stdout")] = None,
) -> None:
    """Export one billed session as an OCPI 2.2.1 CDR (JSON), priced with its tariff.

    Example: chargestream cdr "$(chargestream sql \\
      'SELECT session_id FROM chargestream.billing_records LIMIT 1')"
    """
    import json

    from chargestream.cdr_export import export_cdr

    text = json.dumps(export_cdr(Settings(), session_id), indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        console.print(f"CDR of {session_id} written to {out}")


@kafka_app.command("fetch")
def kafka_fetch() -> None:
    """Resolve the broker jars from Maven Central into the state folder (cached; no-op when present)."""
    s = Settings()
    path = kafka_local.fetch_jars(s)
    console.print(f"Kafka {kafka_local.broker_version(s)} jars in {path}")


@stations_app.command("hash-password")
def stations_hash_password() -> None:
    """Print the password_hash of a station password (prompted, or the first line of stdin).

    Put it under `stations: <id>: password_hash:`; the station connects with HTTP Basic auth,
    username = its id (OCPP security profile 1, or 2 with TLS).
    """
    from schemas.network import hash_password

    if sys.stdin.isatty():
        password = typer.prompt("station password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        err.print("[red]empty password[/]")
        raise typer.Exit(1)
    if not 16 <= len(password) <= 40:
        err.print("[yellow]warning:[/] OCPP security profiles expect 16-40 character passwords")
    print(hash_password(password))


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="worker | sink | gateway")],
    loglevel: Annotated[str, typer.Option(help="worker log level (Faust)")] = "info",
) -> None:
    """Run one service in the foreground, configured from CHARGESTREAM_* (what `up`, compose and the
    Dockerfile run; stop it with SIGTERM). `up` starts all three in the background instead."""
    from chargestream.serve import SERVICES, serve_worker

    if service not in SERVICES:
        err.print(f"[red]unknown service {service!r}:[/] choose one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    settings = Settings()
    if service == "worker":
        serve_worker(settings, loglevel)
    else:
        SERVICES[service](settings)


def main() -> None:
    try:
        app()
    except SetupError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


TypeOpt = Annotated[
    list[str] | None, typer.Option("--type", help="only this type (repeatable), e.g. site_outage")
]
SiteOpt = Annotated[str | None, typer.Option(help="only alerts of this site")]
SeverityOpt = Annotated[
    list[str] | None, typer.Option("--severity", help="critical, warning, info (repeatable)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON alert record per line, for scripts")]
IncidentsOpt = Annotated[
    bool, typer.Option("--incidents-only", help="hide member alerts folded into an incident (parent_id set)")
]


def _filter(
    types: list[str] | None,
    site: str | None,
    severities: list[str] | None,
    statuses: list[str] | None = None,
    incidents_only: bool = False,
) -> AlertFilter:
    return AlertFilter(
        frozenset(types or ()),
        site,
        frozenset(severities or ()),
        frozenset(statuses or ()),
        not incidents_only,
    )


@alerts_app.command("list")
def alerts_list(
    type_: TypeOpt = None,
    site: SiteOpt = None,
    severity: SeverityOpt = None,
    incidents_only: IncidentsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The open alerts (not resolved), oldest first, from the ClickHouse `alerts` table.

    Example: chargestream alerts list --type site_outage --type station_offline --incidents-only
    """
    from chargestream.alerts import line, open_alerts

    rows = open_alerts(Settings(), _filter(type_, site, severity, incidents_only=incidents_only))
    for alert in rows:
        if as_json:
            print(json.dumps(alert, sort_keys=True))
        else:
            console.print(line(alert), highlight=False, soft_wrap=True)
    if not as_json:
        err.print(f"{len(rows)} open alert{'s' if len(rows) != 1 else ''}")


@alerts_app.command("tail")
def alerts_tail(
    type_: TypeOpt = None,
    site: SiteOpt = None,
    severity: SeverityOpt = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="opened, updated, escalated, resolved (repeatable)")
    ] = None,
    incidents_only: IncidentsOpt = False,
    from_beginning: Annotated[
        bool, typer.Option(help="every alert the topics still hold, then live")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Follow alerts.idle, alerts.faults and alerts.maintenance live (Ctrl-C stops).

    Example: chargestream alerts tail --severity critical --json | jq .summary
    """
    from chargestream.alerts import line, tail

    only = _filter(type_, site, severity, status, incidents_only)
    try:
        for alert in tail(Settings(), only, from_beginning=from_beginning):
            if as_json:
                print(json.dumps(alert, sort_keys=True), flush=True)
            else:
                console.print(line(alert), highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        pass


@alerts_app.command("forward")
def alerts_forward(
    url: Annotated[str, typer.Option(help="the webhook: every alert record is POSTed here as JSON")],
    group: Annotated[
        str, typer.Option(help="consumer group: where it left off is kept per group (one per receiver)")
    ] = "chargestream-alerts-forward",
    from_beginning: Annotated[
        bool, typer.Option(help="a new group starts with what the topics still hold, not from now")
    ] = False,
) -> None:
    """Forward every alert state change to a webhook, at least once, in order per alert (Ctrl-C stops).

    Each POST carries `Idempotency-Key: <alert_id>:<version>`, so a receiver that saw a delivery twice
    can tell. Connection errors, timeouts, 408, 429 and 5xx are retried with back-off (0.5 s doubling to
    30 s) for as long as it takes; a record refused with another 4xx goes to the topic's DLQ with the
    answer as its reason. Offsets are committed only after the receiver accepted.

    Example: chargestream alerts forward --url https://ops.example.com/hooks/chargers
    """
    from chargestream.forward import forward

    err.print(f"forwarding alerts.* to {url} (group {group}); Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        forward(Settings().bootstrap, url, group, from_beginning=from_beginning)


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: Annotated[str, typer.Argument(help="the dispatch's alert_id (see `alerts list`)")],
    note: Annotated[str, typer.Option(help="what was done, for the record (stored in the alert)")] = "",
    by: Annotated[str | None, typer.Option(help="who resolved it (default: $USER)")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for the resolved version in ClickHouse")] = 30,
) -> None:
    """Resolve a technician dispatch (maintenance_dispatch) by hand: fixed on site, or nothing to fix.

    The worker publishes the resolved version on alerts.maintenance (the dispatch keeps one writer and
    one version sequence) and the sink stores it. Other alerts resolve themselves when the station
    reports it is well again.

    Example: chargestream alerts resolve 3f2c5a1e-... --note "cable replaced"
    """
    from chargestream.resolve import ResolveError, resolve

    who = by or os.environ.get("USER") or "ops"
    try:
        done = resolve(Settings(), alert_id, note, who, wait_s=wait)
    except ResolveError as exc:
        err.print(f"[red]cannot resolve:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if done is None:
        err.print(
            f"resolution of {alert_id} published; not in ClickHouse after {wait:g} s (worker or sink down?)"
        )
        raise typer.Exit(2)
    console.print(f"resolved {done['alert_id']} (version {done['version']}): {escape(done['summary'])}")


if __name__ == "__main__":
    main()
