"""Bills and credits from the real engine land in the real ClickHouse tables (chdb or a server)."""

from __future__ import annotations

from decimal import Decimal

from schemas.codec import EmbeddedCodec
from schemas.events import MeterValues, StatusChange, TransactionEvent
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import COLUMNS, rows_for
from tests.unit.session_harness import Station, run, wh
from tests.unit.test_sessions import _policy


def test_a_corrected_bill_is_one_current_row_and_a_ledger_that_sums_to_it(
    clickhouse_url: str, unique: str
) -> None:
    s = Station(f"LEDGER-{unique}")
    events = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=1_000)),
        s.ev(1, StatusChange("Charging")),
        s.ev(30, MeterValues((wh(30, 8_000),), "tx")),
        s.ev(40, StatusChange("Available")),
        s.ev(60, StatusChange("Preparing"), 2),
        s.ev(35, TransactionEvent("Ended", "tx", meter_wh=9_500), received_delay_min=120),  # late: +1.5 kWh
    ]
    records = [r for r in run(events, _policy()).sessions if r["connector_id"] == 1]
    codec = EmbeddedCodec()
    tables: dict[str, list[tuple[object, ...]]] = {}
    for rec in records:
        for table, row in rows_for("sessions", codec.decode("sessions", codec.encode("sessions", rec))):
            tables.setdefault(table, []).append(row)
    client = connect(clickhouse_url)
    try:
        migrate(client)
        for table, rows in tables.items():
            client.insert(f"chargestream.{table}", rows, column_names=list(COLUMNS[table]))
        where = f"station_id = '{s.station_id}'"
        current = client.query(
            "SELECT energy_wh, cost_total, has(quality_flags, 'corrected') "
            f"FROM chargestream.billing_records FINAL WHERE {where}"
        ).result_rows
        ledger = client.query(
            f"SELECT groupArray(record_type), sum(energy_wh), sum(cost_total) FROM "
            f"(SELECT * FROM chargestream.billing_ledger FINAL WHERE {where} ORDER BY version)"
        ).result_rows
    finally:
        client.close()
    assert len(current) == 1 and current[0][0] == 8_500 and current[0][2]
    kinds, energy, money = ledger[0]
    assert kinds == ["bill", "credit", "bill"]
    assert energy == 8_500 and Decimal(money) == current[0][1]  # net of the ledger = the current bill
