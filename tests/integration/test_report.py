"""`chargestream report` on the real ClickHouse engine, opened in a real headless Chromium.

A simulated fleet with incidents and driver feedback is replayed through the pure engine (as the worker
runs it: stations, then the site and model stages) and stored with the sink's own row mapping. The
report's figures are checked against the fleet's ground truth and the engine's own records, and the page
is opened in Debian's Chromium through Playwright: it renders, every plot is there, nothing is fetched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from chargestream.report import sections
from chargestream.report.build import default_period
from chargestream.report.queries import Period
from producers.simulator import INCIDENT_PRESETS, FeedbackRates, FleetConfig, Simulation, run
from schemas.events import to_record
from schemas.network import load_network
from schemas.records import Alert
from schemas.topics import CHARGER_EVENTS, DRIVER_FEEDBACK, PORT_OUTAGES, SESSIONS, alert_topic
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import COLUMNS, rows_for
from sinks.rows import TABLES as SINK_TABLES
from streams.faults.incidents import Incidents
from streams.policy import Policy, policy_from_network
from streams.station import StationState, clock_marker, flush, next_fault_due, process
from tests.cli_text import plain

REPO = Path(__file__).resolve().parents[2]
DEMO_NETWORK = REPO / "chargestream" / "data" / "demo_network.yaml"  # its tariffs price the fleet
START = int(datetime(2026, 11, 2, 6, tzinfo=UTC).timestamp() * 1000)  # a Monday
FLEET = FleetConfig(
    stations=8,
    connectors_per_station=2,
    sessions_per_connector=None,
    hours=96,
    meter_interval_s=300,
    heartbeat_interval_s=900,
    seed=23,
    start_ms=START,
    incidents=INCIDENT_PRESETS["heavy"],
    feedback=FeedbackRates(incident_report=0.8, idle_report=0.8),
)
# every table the sink writes, and the aggregate its materialized views fill
TABLES = (*SINK_TABLES, "port_hourly")


@dataclass
class Stored:
    url: str
    sim: Simulation
    bills: dict[str, dict[str, Any]]  # session_id -> the newest billing record
    alerts: dict[str, Alert]  # alert_id -> the newest version


def _replay(sim: Simulation, policy: Policy) -> tuple[dict[str, list[Any]], Stored]:
    rows: dict[str, list[Any]] = defaultdict(list)
    bills: dict[str, dict[str, Any]] = {}
    alerts: dict[str, Alert] = {}
    incidents = Incidents(policy.fault_rules_for)
    states: dict[str, StationState] = {}

    def store(topic: str, record: dict[str, Any]) -> None:
        for table, row in rows_for(topic, record):
            rows[table].append(row)

    def take(out: Any) -> None:
        for rec in out.sessions:
            d = rec.to_dict()
            store(SESSIONS, d)
            if d["record_type"] in ("bill", "credit"):
                bills[d["session_id"]] = d
        for seen in out.stations:
            incidents.station(seen)
        for alert in (relayed for raw in out.alerts for relayed in incidents.alert(raw)):
            store(alert_topic(alert.type), alert.to_dict())
            alerts[alert.alert_id] = alert
        for outage in out.outages:
            store(PORT_OUTAGES, outage.to_dict())

    for i, ev in enumerate(sim.events):
        store(CHARGER_EVENTS, to_record(ev))
        st = states.setdefault(ev.station_id, StationState(ev.station_id))
        take(process(st, ev, policy))
        if i % 200 == 0:  # the worker's timer: silent stations go offline on the others' clock
            now = max(s.watermark for s in states.values())
            for sid, s in states.items():
                due = next_fault_due(s, policy)
                if due is not None and due <= now:
                    take(process(s, clock_marker(sid, now), policy))
    for st in states.values():
        take(flush(st, policy))
    for fb in sim.feedback:
        store(DRIVER_FEEDBACK, fb.record.to_dict())
    return rows, Stored("", sim, bills, alerts)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    url = (
        os.environ.get("CHARGESTREAM_CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('report') / 'db'}"
    )
    sim = run(FLEET)
    rows, out = _replay(sim, policy_from_network(load_network(DEMO_NETWORK)))
    client = connect(url)
    try:
        migrate(client)
        for table in TABLES:
            client.command(f"TRUNCATE TABLE IF EXISTS chargestream.{table}")
        for table, batch in rows.items():
            client.insert(f"chargestream.{table}", batch, column_names=list(COLUMNS[table]))
    finally:
        client.close()
    out.url = url
    yield out


@pytest.fixture
def client(stored: Stored) -> Iterator[Client]:
    c = connect(stored.url)
    yield c
    c.close()


def _fetch(client: Client) -> Any:
    def fetch(sql: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        result = client.query(sql, parameters=dict(params))
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    return fetch


def _report_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`chargestream report ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "chargestream.cli", "report", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _zones(sim: Simulation) -> dict[str, ZoneInfo]:
    return {s.station_id: ZoneInfo(s.site.time_zone) for s in sim.stations}


def test_the_report_figures_are_the_fleets(stored: Stored, client: Client) -> None:
    """Sessions per local weekday and hour, durations, idle sessions, billed totals and alert counts, as
    the report fetches them, against the ground truth and the engine's own records."""
    fetch = _fetch(client)
    period = default_period(fetch)
    truths = stored.sim.sessions
    zones = _zones(stored.sim)
    local = [datetime.fromtimestamp(t.plugged_in_at / 1000, zones[t.station_id]) for t in truths]
    assert period.since == min(d.date() for d in local) and period.until == max(
        d.date() for d in local
    ) + timedelta(1)

    head = sections.headline(fetch, period)
    assert head.sessions == len(truths) and head.sessions > 100
    assert round(head.energy_kwh * 1000) == sum(t.energy_wh for t in truths)

    site_of = {s.station_id: s.site.site_id for s in stored.sim.stations}
    expected: dict[str, Counter[tuple[int, int]]] = defaultdict(Counter)
    for t, when in zip(truths, local, strict=True):
        expected[site_of[t.station_id]][(when.weekday(), when.hour)] += 1
    peak = sections.peak_hours(fetch, period)
    assert set(peak.grids) == set(expected)
    for site, grid in peak.grids.items():
        got = Counter({(d, h): n for d, row in enumerate(grid) for h, n in enumerate(row) if n})
        assert got == expected[site], site

    durations = sections.durations(fetch, period)
    want = [0] * (durations.histogram.counts.__len__())
    for t in truths:
        want[min((t.unplugged_at - t.plugged_in_at) // 900_000, len(want) - 1)] += 1
    assert durations.histogram.counts == want

    # The engine's bills, summed here in Decimal: the report's totals per currency and site.
    revenue = sections.revenue(fetch, period)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for bill in stored.bills.values():
        if bill["record_type"] == "bill":
            totals[bill["currency"]] += Decimal(str(bill["cost_total"]))
    assert {r.currency: r.total for r in revenue.totals()} == totals and sum(totals.values()) > 0

    faults = sections.faults(fetch, period)
    by_type = Counter(
        a.type for a in stored.alerts.values() if a.type not in ("idle", "maintenance_dispatch")
    )
    assert {k: n for k, (n, _) in faults.counts().items()} == dict(by_type) and len(by_type) >= 3
    uptime = sections.uptime(fetch, period)
    assert len(uptime.ports) == FLEET.stations * FLEET.connectors_per_station
    assert all(0 <= p.uptime_pct <= 100 for p in uptime.ports) and uptime.ports[0].outage_min > 0


def test_one_site_and_a_shorter_period_narrow_every_figure(stored: Stored, client: Client) -> None:
    fetch = _fetch(client)
    whole = default_period(fetch)
    site = sorted({s.site.site_id for s in stored.sim.stations})[0]
    zones = _zones(stored.sim)
    one_day = Period(whole.since + timedelta(days=1), whole.since + timedelta(days=2), site)
    want = [
        t
        for t in stored.sim.sessions
        if t.site_id == site
        and datetime.fromtimestamp(t.plugged_in_at / 1000, zones[t.station_id]).date() == one_day.since
    ]
    assert sections.headline(fetch, one_day).sessions == len(want) > 0
    assert set(sections.peak_hours(fetch, one_day).grids) == {site}


def _chromium() -> str:
    path = os.environ.get("CHARGESTREAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            "no Chromium to open the report in: scripts/setup.sh installs Debian's `chromium` when run as "
            "root, or set CHARGESTREAM_CHROMIUM=/path/to/chromium"
        )
    return path


def test_the_report_renders_in_a_real_browser(stored: Stored, tmp_path: Path) -> None:
    """`chargestream report` as a user runs it, then the file in headless Chromium: no error, no request
    but the file itself, every plot drawn at a readable size, the figures on the page."""
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    env = os.environ | {"CHARGESTREAM_CLICKHOUSE_URL": stored.url, "CHARGESTREAM_STATE_DIR": str(tmp_path)}
    done = _report_cli(env, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "written to" in done.stdout and out.stat().st_size > 50_000
    html = out.read_text()
    assert (
        "Content-Security-Policy" in html and "<script" not in html and "http://" not in html.split("<svg")[0]
    )

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"],
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(out.as_uri())
            figures = page.eval_on_selector_all(
                "figure",
                """fs => fs.map(f => { const s = f.querySelector('svg').getBoundingClientRect();
                       return [f.getAttribute('aria-label'), s.width, s.height,
                               f.querySelectorAll('image').length, f.querySelectorAll('path').length]; })""",
            )
            tiles = page.inner_text(".tiles")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert requests == [out.as_uri()], requests
    assert problems == []
    assert len(figures) == 7, figures
    for label, width, height, images, paths in figures:  # drawn at a readable size, with marks in it
        assert width > 600 and height > 150 and images + paths > 10, (label, width, height, paths)
    sites = len({s.site.site_id for s in stored.sim.stations})
    heat = next(f for f in figures if f[0].startswith("Sessions started"))
    assert heat[3] == sites + 1  # a heat map (a raster in the SVG) per site, and the colour bar
    assert f"{len(stored.sim.sessions):,}" in tiles
    assert len(shot) > 100_000  # a page of plots, not a blank one


def test_the_report_of_an_empty_store_says_so(tmp_path: Path) -> None:
    env = os.environ | {
        "CHARGESTREAM_CLICKHOUSE_URL": f"chdb://{tmp_path / 'db'}",
        "CHARGESTREAM_STATE_DIR": str(tmp_path),
    }
    out = tmp_path / "empty.html"
    done = _report_cli(env, "--out", str(out), "--since", "2026-11-01")
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("No data in this period.") == 7


def test_a_bad_day_is_one_clear_line(tmp_path: Path) -> None:
    env = os.environ | {"CHARGESTREAM_CLICKHOUSE_URL": f"chdb://{tmp_path / 'db'}"}
    done = _report_cli(env, "--since", "30/11/2026")
    assert done.returncode == 2 and "YYYY-MM-DD" in plain(done.stderr)
