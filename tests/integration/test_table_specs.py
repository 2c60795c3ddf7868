"""Each table spec of the sink equals the table a migrated store has (chdb or a server), and rows
made by the specs insert and read back as the records they came from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from schemas.codec import EmbeddedCodec
from schemas.records import Costs, SessionRecord
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.rows import TABLES, TOPICS, rows_for

T0 = 1_800_000_000_000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    url = os.environ.get("CHARGESTREAM_CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('specs') / 'db'}"
    client = connect(url)
    migrate(client)
    yield client
    client.close()


@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_spec_is_the_migrated_table(store: Client, table: str) -> None:
    spec = TABLES[table]
    columns = store.query(
        "SELECT name, type, default_kind FROM system.columns "
        "WHERE database = 'chargestream' AND table = {t:String} ORDER BY position",
        parameters={"t": table},
    ).result_rows
    assert columns, f"no table chargestream.{table} after migrating"
    written = [(name, type_) for name, type_, kind in columns if name not in spec.server_filled]
    assert sorted(written) == sorted(zip(spec.names, spec.types, strict=True))
    assert {name for name, _, kind in columns if kind == "MATERIALIZED"} <= set(spec.server_filled)
    assert set(spec.server_filled) <= {name for name, _, _ in columns}


def test_every_topic_maps_into_known_tables() -> None:
    assert {spec.table for m in TOPICS.values() for spec in m.tables} == set(TABLES)


def test_a_bill_written_by_its_spec_reads_back_exactly(store: Client, tmp_path: Path) -> None:
    bill = SessionRecord(
        session_id=f"spec-{tmp_path.name}",
        station_id="SPEC",
        connector_id=2,
        plugged_in_at=T0,
        charging_started_at=T0 + 60_000,
        unplugged_at=T0 + 3_600_123,
        emitted_at=T0 + 3_600_500,
        state="closed",
        record_type="bill",
        is_final=True,
        version=3,
        energy_wh=12_345,
        costs=Costs(energy=Decimal("3.7035"), total=Decimal("3.7035"), total_incl_vat=Decimal("4.4072")),
        quality_flags=("corrected",),
    )
    codec = EmbeddedCodec()
    tables: dict[str, list[tuple[object, ...]]] = {}
    for table, row in rows_for(
        "sessions", codec.decode("sessions", codec.encode("sessions", bill.to_dict()))
    ):
        tables.setdefault(table, []).append(row)
    for table, rows in tables.items():
        spec = TABLES[table]
        store.insert(f"chargestream.{table}", rows, column_names=spec.names, column_type_names=spec.types)
    got = store.query(
        "SELECT energy_wh, cost_total_incl_vat, toUnixTimestamp64Milli(unplugged_at), charging_ended_at, "
        "quality_flags, version FROM chargestream.billing_records FINAL WHERE session_id = {s:String}",
        parameters={"s": bill.session_id},
    ).result_rows
    assert got == [(12_345, Decimal("4.4072"), T0 + 3_600_123, None, ["corrected"], 3)]
