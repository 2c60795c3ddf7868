"""port_uptime_monthly on the real ClickHouse engine gives the figures Python computes independently from
the same outages and site incidents: spans across month ends, excluded time, replayed and re-sent rows."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from schemas.records import Alert, PortOutage
from schemas.topics import ALERTS_FAULTS, PORT_OUTAGES
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import COLUMNS, rows_for

MS = 1000
T0 = int(datetime(2027, 1, 20, tzinfo=UTC).timestamp() * MS)
HOUR = 3600 * MS


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    url = (
        os.environ.get("CHARGESTREAM_CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('uptime') / 'db'}"
    )
    client = connect(url)
    migrate(client)
    for table in ("port_outages", "alerts", "status_changes"):
        client.command(f"TRUNCATE TABLE IF EXISTS chargestream.{table}")
    yield client
    client.close()


def _insert(store: Client, topic: str, record: dict[str, object]) -> None:
    for table, row in rows_for(topic, record):
        store.insert(f"chargestream.{table}", [row], column_names=list(COLUMNS[table]))


def _months(start: int, end: int) -> dict[date, float]:
    """Minutes of [start, end) in each UTC calendar month."""
    out: dict[date, float] = defaultdict(float)
    t = datetime.fromtimestamp(start / MS, UTC)
    stop = datetime.fromtimestamp(end / MS, UTC)
    while t < stop:
        nxt = (t.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(
            day=1
        )
        piece_end = min(nxt, stop)
        out[t.date().replace(day=1)] += (piece_end - t).total_seconds() / 60
        t = piece_end
    return out


def test_monthly_uptime_equals_an_independent_computation(store: Client) -> None:
    rnd = random.Random(42)
    incidents = [(T0 + 300 * HOUR, T0 + 360 * HOUR), (T0 + 600 * HOUR, T0 + 700 * HOUR)]
    for i, (s, e) in enumerate(incidents):
        opened = Alert(f"site-{i}", "site_outage", "opened", s, s, "critical", 1, site_id="SITE", summary="x")
        resolved = Alert(
            f"site-{i}", "site_outage", "resolved", s, e, "info", 2, site_id="SITE", resolved_at=e
        )
        for a in (opened, resolved):
            _insert(store, ALERTS_FAULTS, a.to_dict())
    outage: dict[tuple[str, int, date], float] = defaultdict(float)
    excluded: dict[tuple[str, int, date], float] = defaultdict(float)
    for n in range(40):
        station, connector = f"ST-{n % 4}", 1 + (n // 4) % 2  # 8 ports, each once per slot
        start = T0 + (n // 8) * 200 * HOUR + rnd.randint(0, 190) * HOUR + rnd.randint(0, 59) * 60 * MS
        end = (
            start + rnd.randint(1, 60 * 12) * 60 * MS
        )  # within the 200 h slot: spans of a port never overlap
        oid = f"o{n}"
        opened_rec = PortOutage(oid, station, connector, start, 1, None, "SITE", "Faulted")
        closed = PortOutage(oid, station, connector, start, 2, end, "SITE", "Faulted")
        for rec in (opened_rec, closed, closed):  # the sink retried a batch: the same key again
            _insert(store, PORT_OUTAGES, rec.to_dict())
        for month, minutes in _months(start, end).items():
            outage[(station, connector, month)] += minutes
        for s, e in incidents:
            if min(end, e) > max(start, s):
                for month, minutes in _months(max(start, s), min(end, e)).items():
                    excluded[(station, connector, month)] += minutes
    # a port that only reported a status: 100 %
    store.command(
        "INSERT INTO chargestream.status_changes (station_id, connector_id, station_time, received_at, "
        "status, error_code, vendor_error_code, info, event_id) VALUES "
        "('ST-9', 1, '2027-02-03 10:00:00', '2027-02-03 10:00:00', 'Available', '', '', '', 'e1')"
    )
    rows = store.query(
        "SELECT station_id, connector_id, month, outage_minutes, excluded_minutes, uptime_pct, "
        "uptime_pct_trailing_year FROM chargestream.port_uptime_monthly ORDER BY 1, 2, 3"
    ).result_rows
    got = {(r[0], r[1], r[2]): r[3:] for r in rows}
    assert set(got) == set(outage) | {("ST-9", 1, date(2027, 2, 1))}
    assert got[("ST-9", 1, date(2027, 2, 1))] == (0.0, 0.0, 100.0, 100.0)
    assert sum(excluded.values()) > 0, "some outages overlap a site incident"
    trailing: dict[tuple[str, int], float] = defaultdict(float)
    for key in sorted(outage, key=lambda k: (k[0], k[1], k[2])):
        station, connector, month = key
        minutes_in_month = sum(_months(_ms(month), _ms(_next(month))).values())
        o, x = outage[key], excluded.get(key, 0.0)
        trailing[(station, connector)] += o - x  # every month of this test is within one year
        assert got[key][0] == pytest.approx(o, abs=0.01)
        assert got[key][1] == pytest.approx(x, abs=0.01)
        assert got[key][2] == pytest.approx((minutes_in_month - (o - x)) / minutes_in_month * 100, abs=0.001)
        assert got[key][3] == pytest.approx(
            (525600 - trailing[(station, connector)]) / 525600 * 100, abs=0.001
        )


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * MS)


def _next(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)
