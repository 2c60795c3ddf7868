"""The hourly aggregates and the views built on them, on the real ClickHouse engine, add up to exactly what
the current bills (billing_records FINAL) say — after corrections (a credit and a new bill that spans more
hours), voided sessions (a credit alone), a sink batch replayed and records the worker sent twice."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from producers.simulator import FeedbackRates, FleetConfig, IncidentRates
from producers.simulator.simulation import run as simulate_fleet
from schemas.events import MINUTE_MS, StationBoot, to_record
from schemas.records import COST_COMPONENTS, Costs, SessionRecord
from schemas.topics import ALERTS_FAULTS, CHARGER_EVENTS, DRIVER_FEEDBACK, PORT_OUTAGES, SESSIONS
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import COLUMNS, rows_for
from tests.unit.session_harness import current_bills, run

EXACT_TABLES = ("billing_records", "billing_ledger", "session_updates", "port_hourly", "alerts", "feedback")
EVENT_TABLES = ("meter_values", "status_changes", "station_events", "tz_offsets")


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    url = os.environ.get("CHARGESTREAM_CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('agg') / 'db'}"
    client = connect(url)
    migrate(client)
    for table in (*EXACT_TABLES, *EVENT_TABLES, "port_outages"):
        client.command(f"TRUNCATE TABLE IF EXISTS chargestream.{table}")
    yield client
    client.close()


def _insert(store: Client, records: list[tuple[str, dict[str, Any]]]) -> None:
    """One insert per table, as a sink batch does."""
    by_table: dict[str, list[Any]] = defaultdict(list)
    for topic, record in records:
        for table, row in rows_for(topic, record):
            by_table[table].append(row)
    for table, rows in by_table.items():
        store.insert(f"chargestream.{table}", rows, column_names=list(COLUMNS[table]))


def _corrected(bills: list[dict[str, Any]], rnd: random.Random) -> list[dict[str, Any]]:
    """For a third of the bills a credit and a new bill (the unplug 97 min later: more hours, more
    energy and money); for a tenth a credit alone (the session voided)."""
    out = []
    for d in bills:
        rec = SessionRecord.from_dict(d)
        roll = rnd.random()
        if roll < 0.33:
            later = (rec.unplugged_at or rec.plugged_in_at) + 97 * MINUTE_MS
            new = replace(
                rec,
                version=rec.version + 2,
                unplugged_at=later,
                idle_minutes=rec.idle_minutes + 97,
                energy_wh=rec.energy_wh + 123,
                costs=Costs(*(getattr(rec.costs, n) + Decimal("1.25") for n in COST_COMPONENTS)),
                emitted_at=rec.emitted_at + 1,
            )
            out += [rec.credit(rec.version + 1, rec.emitted_at + 1).to_dict(), new.to_dict()]
        elif roll < 0.43:
            out.append(rec.credit(rec.version + 1, rec.emitted_at + 1).to_dict())
    return out


def _local_day(ms: int, zone: str) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(zone)).date().isoformat()


def test_aggregates_equal_the_current_bills_after_corrections_and_replays(store: Client) -> None:
    sim = simulate_fleet(
        FleetConfig(
            stations=6,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=72,
            sites=3,
            seed=20261203,
            incidents=IncidentRates.only(connector_fault=0.5),
            feedback=FeedbackRates(incident_report=1.0, idle_report=0.5),
        )
    )
    result = run(sim.events, feedback=[f.record for f in sim.feedback])
    records = result.sessions + _corrected(result.bills, random.Random(7))
    current = current_bills(records)
    assert any(r["record_type"] == "credit" for r in records) and len(current) < len(result.bills)
    zones = {
        e.station_id: e.payload.time_zone or "UTC" for e in sim.events if isinstance(e.payload, StationBoot)
    }
    assert len(set(zones.values())) >= 2  # local days differ by site

    batch = [(CHARGER_EVENTS, to_record(e)) for e in sim.events]
    batch += [(SESSIONS, r) for r in records]
    batch += [(ALERTS_FAULTS, a) for a in result.alerts if a["type"] in ("connector_fault", "station_fault")]
    batch += [(DRIVER_FEEDBACK, f.record.to_dict()) for f in sim.feedback]
    batch += [(PORT_OUTAGES, o) for o in result.outages]
    _insert(store, batch)
    _insert(store, batch[len(batch) // 2 :])  # a sink batch replayed (no token: ClickHouse keeps the rows)
    _insert(store, [(SESSIONS, r) for r in records[::5]])  # records the worker sent twice

    # Per connector: sessions, energy (exact), occupied, charging and idle minutes.
    want: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0.0])
    for b in current:
        w = want[(b["station_id"], b["connector_id"])]
        w[0] += 1
        w[1] += b["energy_wh"]
        w[2] += ((b["unplugged_at"] or b["plugged_in_at"]) - b["plugged_in_at"]) / MINUTE_MS
        w[3] += b["charging_minutes"]
        w[4] += b["idle_minutes"]
    got = {
        (s, c): [n, e, o, ch, i]
        for s, c, n, e, o, ch, i in store.query(
            "SELECT station_id, connector_id, sum(sessions), sum(energy_wh), sum(occupied_minutes), "
            "sum(charging_minutes), sum(idle_minutes) FROM chargestream.hourly_connector "
            "WHERE connector_id > 0 GROUP BY station_id, connector_id"
        ).result_rows
    }
    assert {k for k, v in got.items() if any(v)} == set(want)
    for key, w in want.items():
        n, e, o, ch, i = got[key]
        assert (n, e) == (w[0], w[1]), key
        assert o == pytest.approx(w[2], abs=1e-4) and ch == pytest.approx(w[3], abs=1e-4), key
        assert i == pytest.approx(w[4], abs=1e-4), key

    # The billing view is billing_records FINAL, with the local plug-in time.
    billing = store.query(
        "SELECT session_id, energy_wh, toString(toDate(plugged_in_local)) FROM chargestream.billing"
    )
    assert sorted((s, e) for s, e, _ in billing.result_rows) == sorted(
        (b["session_id"], b["energy_wh"]) for b in current
    )
    assert {s: d for s, _, d in billing.result_rows} == {
        b["session_id"]: _local_day(b["plugged_in_at"], zones[b["station_id"]]) for b in current
    }

    # revenue_daily: per site and local day, sessions, energy and money, computed here from the bills.
    revenue: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for b in current:
        r = revenue[(_local_day(b["plugged_in_at"], zones[b["station_id"]]), b["site_id"])]
        r[0] += 1
        r[1] += b["energy_wh"]
        r[2] += Decimal(str(b["cost_total"]))
        r[3] += Decimal(str(b["cost_total_incl_vat"]))
    rows = store.query(
        "SELECT toString(day), site_id, sum(sessions), sum(energy_wh), sum(cost_total), "
        "sum(cost_total_incl_vat) "
        "FROM chargestream.revenue_daily GROUP BY day, site_id"
    ).result_rows
    assert {(d, s): [n, e, t, v] for d, s, n, e, t, v in rows} == dict(revenue)

    # Faults, warnings and reports per station: each source record once, however often it was written.
    faults = defaultdict(int)
    for a in result.alerts:
        if a["type"] in ("connector_fault", "station_fault") and a["version"] == 1:
            faults[a["station_id"]] += 1
    reports = defaultdict(int)
    for f in sim.feedback:
        reports[f.record.station_id] += 1
    counted = store.query(
        "SELECT station_id, sum(faults), sum(reports) FROM chargestream.hourly_station GROUP BY station_id"
    ).result_rows
    assert {s: f for s, f, _ in counted if f} == dict(faults) and faults
    assert {s: r for s, _, r in counted if r} == dict(reports) and reports

    # fault_hotspots: faults, downtime (closed outage spans), failed sessions and failure reports per station.
    closed = {o["outage_id"]: o for o in result.outages if o["ended_at"] is not None}
    down: dict[str, float] = defaultdict(float)
    for o in closed.values():
        down[o["station_id"]] += (o["ended_at"] - o["started_at"]) / MINUTE_MS
    assert down, "the fleet's faults took ports down"
    failed = defaultdict(int)
    for b in current:
        failed[b["station_id"]] += b["energy_wh"] == 0
    failures = defaultdict(int)
    for f in sim.feedback:
        failures[f.record.station_id] += f.record.category in (
            "cannot-start",
            "broken-cable",
            "slow",
            "payment",
        )
    open_spans = {o["station_id"] for o in result.outages if o["outage_id"] not in closed}
    hot = store.query(
        "SELECT station_id, faults, downtime_minutes, failed_sessions, reports, site_id, model "
        "FROM chargestream.fault_hotspots"
    ).result_rows
    assert {r[0] for r in hot} == set(zones)
    for station, f, minutes, n_failed, n_reports, site, model in hot:
        assert (f, n_failed, n_reports) == (faults[station], failed[station], failures[station]), station
        assert site and model, station
        if station not in open_spans:  # an open span counts until now
            assert minutes == pytest.approx(down[station], abs=1e-4), station

    # port_daily: the day's minutes down by cause add up to the closed spans of the stations without open ones
    by_day = store.query(
        "SELECT station_id, sum(faulted_minutes + offline_minutes + unavailable_minutes), "
        "max(occupied_minutes + faulted_minutes + offline_minutes + unavailable_minutes + available_minutes) "
        "FROM chargestream.port_daily GROUP BY station_id"
    ).result_rows
    for station, minutes, fullest in by_day:
        if station not in open_spans:
            assert minutes == pytest.approx(down.get(station, 0.0), abs=1e-4), station
        assert fullest <= 1440 + 1e-6 or station in open_spans, station

    # feedback_summary: reports and mean rating per station and category
    want_fb: dict[tuple[str, str], list[int]] = defaultdict(list)
    for f in sim.feedback:
        want_fb[(f.record.station_id, f.record.category)].append(f.record.rating or 0)
    fb = store.query("SELECT station_id, category, reports FROM chargestream.feedback_summary").result_rows
    assert {(s, c): n for s, c, n in fb} == {k: len(v) for k, v in want_fb.items()}
