"""`chargestream alerts list` over a real ClickHouse store, `alerts tail` over the real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from chargestream.alerts import AlertFilter, tail
from chargestream.cli import app
from chargestream.settings import Settings
from schemas.records import Alert
from schemas.topics import ALERTS_FAULTS
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import ALERTS

T0 = 1_800_000_000_000


def _alert(aid: str, kind: str, status: str, version: int, **kw: object) -> Alert:
    return Alert(
        alert_id=aid,
        type=kind,
        status=status,
        opened_at=T0,
        updated_at=T0 + version * 60_000,
        severity="critical",
        version=version,
        station_id=str(kw.pop("station_id", "ST-1")),
        site_id="S1",
        summary=f"{kind} {status}",
        **kw,  # type: ignore[arg-type]
    )


def test_alerts_list_shows_the_open_alerts_newest_state(
    clickhouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = connect(clickhouse_url)
    try:
        migrate(store)
        rows = [
            ALERTS.row(a)
            for a in (
                _alert("out-1", "site_outage", "opened", 1, station_id=""),
                _alert("off-1", "station_offline", "opened", 1),
                _alert("off-1", "station_offline", "updated", 2, parent_id="out-1"),
                _alert("flt-1", "connector_fault", "opened", 1, connector_id=2),
                _alert("flt-1", "connector_fault", "resolved", 2, connector_id=2, resolved_at=T0 + 120_000),
            )
        ]
        store.insert("chargestream.alerts", rows, column_names=ALERTS.names, column_type_names=ALERTS.types)
    finally:
        store.close()
    monkeypatch.setenv("CHARGESTREAM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHARGESTREAM_CLICKHOUSE_URL", clickhouse_url)
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    got = {a["alert_id"]: a for a in map(json.loads, listed.stdout.splitlines())}
    assert set(got) == {"out-1", "off-1"}  # the resolved fault is not open
    assert got["off-1"]["status"] == "updated" and got["off-1"]["parent_id"] == "out-1"
    assert got["off-1"]["version"] == 2 and got["off-1"]["updated_at"] == T0 + 120_000
    only = runner.invoke(app, ["alerts", "list", "--json", "--incidents-only"])
    assert [json.loads(x)["alert_id"] for x in only.stdout.splitlines()] == ["out-1"]
    text = runner.invoke(app, ["alerts", "list", "--type", "station_offline"])
    assert "station_offline updated" in text.stdout and "site_outage" not in text.stdout


def test_alerts_tail_follows_the_alert_topics_with_filters(kafka_topics: str, unique: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_topics})
    site = f"TAIL-{unique}"
    for a in (
        _alert(f"a-{unique}", "connector_fault", "opened", 1),
        _alert(f"b-{unique}", "station_offline", "opened", 1),
    ):
        producer.produce(
            ALERTS_FAULTS, key=b"ST-1", value=json.dumps({**a.to_dict(), "site_id": site}).encode()
        )
    producer.produce(ALERTS_FAULTS, key=b"x", value=b"not json")  # skipped, not fatal
    producer.flush(10)
    deadline = time.monotonic() + 60
    seen = []
    only = AlertFilter(types=frozenset({"station_offline"}), site=site)
    for alert in tail(
        Settings(kafka_bootstrap=kafka_topics),
        only,
        from_beginning=True,
        stop=lambda: time.monotonic() > deadline,
    ):
        seen.append(alert)
        break
    assert [a["alert_id"] for a in seen] == [f"b-{unique}"]
