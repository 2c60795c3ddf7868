"""ClickHouse's decoding of the charger events (sinks.event_stage) against the Python path's, on real chdb.

The property: for any batch (meter values, status changes and other payloads, values at and past the
bounds, NaN and infinities, text that is not UTF-8, any order), the rows SQL writes plus the rows Python
makes of the messages SQL leaves it are exactly the rows Python alone makes of the batch, and every
message SQL leaves to Python that Python stores is one SQL does not map (so the two never fill one table
for one message twice).
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.bounds import MAX_REGISTER_WH, MAX_TIME_MS
from schemas.codec import EmbeddedCodec
from schemas.errors import RecordError
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    SampledValue,
    StatusChange,
    to_record,
)
from schemas.topics import CHARGER_EVENTS
from sinks.clickhouse import connect
from sinks.event_stage import STAGE, ChargerEventStage, SchemaServer, Unreadable
from sinks.migrations import migrate
from sinks.rows import COLUMNS, TABLES, Row, rows_for

CODEC = EmbeddedCodec()
BAD_UTF8 = "\x01BAD\x01"  # replaced in the encoded bytes by as many bytes that are no UTF-8
T0 = 1_800_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Client, ChargerEventStage]]:
    client = connect(f"chdb://{tmp_path / 'store'}")
    migrate(client)
    server = SchemaServer()
    try:
        yield client, ChargerEventStage(client, server.url)
    finally:
        server.stop()
        client.close()


times = st.one_of(
    st.integers(T0 - 10**9, T0 + 10**9),
    st.sampled_from([-1, 0, MAX_TIME_MS - 1, MAX_TIME_MS, 2**62]),
)
text = st.one_of(st.text(max_size=8), st.just(BAD_UTF8))
optional_text = st.one_of(st.none(), text)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e9, 1e9 + 1, float(MAX_REGISTER_WH), MAX_REGISTER_WH * 1.5]),
    st.decimals(0, 10**6, places=3).map(float),  # decimal Wh and kWh as chargers round them
)
samples = st.builds(
    SampledValue,
    sampled_at=times,
    unit=st.sampled_from(["Wh", "W", "A", "V", "Percent", "kWh"]),
    value=values,
    raw_value=text,
    measurand=st.sampled_from(
        ["Energy.Active.Import.Register", "Power.Active.Import", "Energy.Active.Import.Interval", "SoC"]
    ),
    phase=st.sampled_from([None, "L1", "L2", "L3", "N"]),
    location=st.sampled_from([None, "Outlet", "Inlet"]),
    context=st.sampled_from(["Sample.Periodic", "Transaction.Begin", "Transaction.End"]),
    raw_unit=st.sampled_from([None, "Wh", "kWh"]),
)
payloads = st.one_of(
    st.builds(MeterValues, st.lists(samples, max_size=5).map(tuple), optional_text),
    st.builds(
        StatusChange, st.sampled_from(["Available", "Charging", "Faulted"]), optional_text, optional_text
    ),
    st.just(Heartbeat()),
    st.builds(ConnectionChange, st.booleans(), optional_text),
)
events = st.builds(
    ChargerEvent,
    # uuids, and ids of any length: a length of 64 bytes and more is a varint of two bytes
    event_id=st.one_of(
        st.uuids().map(str), st.just(BAD_UTF8), st.text(max_size=20), st.text(min_size=64, max_size=80)
    ),
    station_id=st.sampled_from(["CS-1", "CS-2", "ÉSTATION-Ω"]),
    connector_id=st.one_of(st.integers(0, 3), st.sampled_from([255, 256, -1, 70000])),
    station_time=times,
    received_at=times,
    source=st.sampled_from(["ocpp1.6", "ocpp2.0.1", "sdk"]),
    payload=payloads,
    evse_id=st.one_of(st.none(), st.integers(-1, 300)),
    message_id=optional_text,
)


def _encode(ev: ChargerEvent) -> bytes:
    raw = CODEC.encode(CHARGER_EVENTS, to_record(ev))
    marker = BAD_UTF8.encode()
    return raw.replace(marker, b"\xff\xfe" + b"\xc0" * (len(marker) - 2))


def _python(values: list[bytes], only: list[int] | None = None) -> tuple[dict[str, list[Row]], set[int]]:
    tables: dict[str, list[Row]] = defaultdict(list)
    dead: set[int] = set()
    for i in range(len(values)) if only is None else only:
        try:
            for table, row in rows_for(CHARGER_EVENTS, CODEC.decode(CHARGER_EVENTS, values[i])):
                tables[table].append(row)
        except RecordError:
            dead.add(i)
    return tables, dead


def _stored(client: Client, table: str) -> list[tuple[Any, ...]]:
    cols = ", ".join(COLUMNS[table])
    rows = client.query(f"SELECT {cols} FROM chargestream.{table}").result_rows
    # NaN is not equal to itself: compare its text
    return sorted(tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows)


def _insert(client: Client, tables: dict[str, list[Row]], token: str) -> None:
    for table, rows in tables.items():
        if table in ChargerEventStage.TABLES:
            spec = TABLES[table]
            client.insert(
                f"chargestream.{table}",
                rows,
                column_names=spec.names,
                column_type_names=spec.types,
                settings={"insert_deduplication_token": f"{token}:{table}"},
            )


def _truncate(client: Client) -> None:
    for table in ChargerEventStage.TABLES:
        client.command(f"TRUNCATE TABLE chargestream.{table}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(events, min_size=1, max_size=12))
def test_clickhouse_maps_what_python_maps(
    store: tuple[Client, ChargerEventStage], batch: list[ChargerEvent]
) -> None:
    client, stage = store
    values = [_encode(ev) for ev in batch]
    expected_tables, expected_dead = _python(values)
    _truncate(client)
    _insert(client, expected_tables, uuid.uuid4().hex)
    expected = {t: _stored(client, t) for t in ChargerEventStage.TABLES}

    _truncate(client)
    assert stage.fits(values)
    staged = stage.load(values)
    stage.insert(uuid.uuid4().hex)
    python_tables, dead = _python(values, staged.python)
    assert dead == expected_dead  # every refused record is Python's, and so goes to the DLQ with its reason
    assert not any(python_tables.get(t) for t in ChargerEventStage.TABLES)  # the two never share a table
    got = {t: _stored(client, t) for t in ChargerEventStage.TABLES}
    assert got == expected
    assert staged.rows == {t: len(expected[t]) for t in ChargerEventStage.TABLES}
    # and Python's other rows (station events) are those the Python path alone makes
    assert {t: r for t, r in python_tables.items()} == {
        t: r for t, r in expected_tables.items() if t not in ChargerEventStage.TABLES
    }


def test_bytes_that_are_no_stream_of_the_schema_go_the_python_way(
    store: tuple[Client, ChargerEventStage],
) -> None:
    _client, stage = store
    ev = ChargerEvent("e1", "CS-1", 1, T0, T0, "sdk", StatusChange("Available"))
    good = _encode(ev)
    assert not stage.fits([good, b""]) and not stage.fits([good, b"\x00\x00"])
    assert not stage.fits([good, b"\x07" + good[1:]])  # not the Confluent magic byte
    v1 = b"\x00\x00\x00\x03\xe9" + good[5:]  # schema id 1001, an older version: Python resolves it
    assert not stage.fits([v1])
    for bad in (good[:-2], good + b"\x01\x02", good[:5] + b"\xff" * 30, good + good):
        assert stage.fits([good, bad])
        with pytest.raises(Unreadable):
            stage.load([good, bad, good])
    assert stage.load([good, good]).rows == {"meter_values": 0, "status_changes": 2}
    # an id of 64 bytes or more has a two-byte length: read all the same, not sent the Python way
    long_id = _encode(ChargerEvent("e" * 200, "CS-1", 1, T0, T0, "sdk", StatusChange("Available")))
    assert stage.load([good, long_id, good]).python == []


def test_the_stage_is_the_sinks_own(store: tuple[Client, ChargerEventStage], tmp_path: Path) -> None:
    """A temporary table of the sink's session: the analysts' handle on the same store (the query
    endpoint's) cannot read the staged events, nor see that the table exists."""
    client, stage = store
    stage.load([_encode(ChargerEvent("e1", "CS-1", 1, T0, T0, "sdk", StatusChange("Available")))])
    assert client.query(f"SELECT count() FROM {STAGE}").result_rows == [(1,)]
    other = connect(f"chdb://{tmp_path / 'store'}")
    try:
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
            other.query(f"SELECT count() FROM {STAGE}")
        assert other.query("SELECT count() FROM system.tables WHERE is_temporary").result_rows == [(0,)]
    finally:
        other.close()
