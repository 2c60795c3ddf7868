"""ClickHouse decodes the charger events: a batch's message values go in as one AvroConfluent stream.

Decoding Avro in Python (fastavro, ~14 µs a record) and mapping a row (~6 µs) bound one sink process
to ~80k rows/s; ClickHouse's own Avro reader and an INSERT ... SELECT do the same in under 2 µs a row.
The batch is written into a temporary Memory table of the sink's session whose columns are those the
reader gives the schema (`clickhouse_type`); `meter_values` and `status_changes` are filled from it
with the batch's deduplication tokens, as the Python mapping would fill them (a property test holds
the two paths to the same rows). What SQL does not map goes the Python way, per message: the other
payloads (their JSON details, a boot's time-zone transitions) and every event the bounds refuse (the
DLQ wants the reason, and `schemas.bounds` gives it) — `_fast` is exactly the bounds of
`schemas.bounds` for these two payloads, plus "not valid UTF-8", which fastavro refuses.

What a batch costs ClickHouse is mostly the analysis of each statement (milliseconds a function, next to
microseconds a row to run them): the verdict on every event is worked out once, in the one query that
also checks the stream, with short-circuit evaluation off (it filtered the Variant column branch by
branch, 3x the work); the INSERT ... SELECTs leave out only the rare refused events, by their row.

The whole batch goes the Python way when its bytes are not one schema's Confluent frames (another
schema version, a short or foreign message) or when ClickHouse cannot read them (a corrupt record);
both are decided by the bytes alone, so a batch rebuilt after a crash takes the same way and its
tokens stay the same. The stream is also checked to have one row per message with that message's
event id: a message with trailing bytes would otherwise shift the rows after it.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from clickhouse_connect.driver.binding import format_str
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from schemas.bounds import MAX_CONNECTOR_ID, MAX_MEASURAND_ABS, MAX_REGISTER_WH, MAX_TIME_MS, MIN_TIME_MS
from schemas.codec import _manifest, load_schema, subject
from schemas.topics import CHARGER_EVENTS
from sinks.rows import COLUMNS

STAGE: Final = "_charger_events_stage"  # a temporary table: the session's own, gone with the process
_HEADER: Final = struct.Struct(">bI")
# ClickHouse's codes for input it cannot read (the bytes' fault, not the store's): a batch with one goes
# the Python way, which sends the bad record to the DLQ. Any other error is the store's: retried. 86 is
# the schema server's "no such id": every message starts with the stage's id, so the stream lost step.
INPUT_ERRORS: Final = frozenset({6, 26, 27, 32, 33, 38, 41, 44, 53, 69, 70, 72, 86, 117, 1001})
_CODE = re.compile(r"Code: (\d+)")


def clickhouse_type(avro: Any, top: bool = False, named: dict[str, str] | None = None) -> str:
    """The column type ClickHouse's Avro reader gives an Avro type (a union of records is a Variant;
    its members must be exactly these for the reader to accept the column). Top-level timestamps are
    read as their Int64 millis: the bounds are checked on them, and DateTime64 is made in the SELECT.
    `named` collects the records met so far, for later references by name."""
    named = {} if named is None else named
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) == 1 and len(avro) == 2:
            return f"Nullable({clickhouse_type(branches[0], named=named)})"
        return f"Variant({', '.join(clickhouse_type(b, named=named) for b in branches)})"
    if isinstance(avro, str):
        primitive = {
            "string": "String",
            "int": "Int32",
            "long": "Int64",
            "double": "Float64",
            "boolean": "Bool",
        }
        return primitive.get(avro) or named[avro]
    kind = avro["type"]
    if kind == "record":
        fields = ", ".join(f"{f['name']} {clickhouse_type(f['type'], named=named)}" for f in avro["fields"])
        named[avro["name"]] = f"Tuple({fields})"
        return named[avro["name"]]
    if kind == "array":
        return f"Array({clickhouse_type(avro['items'], named=named)})"
    if avro.get("logicalType") == "timestamp-millis":
        return "Int64" if top else "DateTime64(3)"
    return clickhouse_type(kind, named=named)


def _named(schema: dict[str, Any]) -> dict[str, str]:
    """Each payload record's ClickHouse type by its Avro name."""
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    named: dict[str, str] = {}
    clickhouse_type(payload["type"], named=named)
    return named


class SchemaServer:
    """The embedded manifest's schemas as a schema registry's `GET /schemas/ids/{id}`, on loopback, for
    ClickHouse's AvroConfluent reader (which fetches each id once and caches it)."""

    def __init__(self) -> None:
        schemas = {int(v["id"]): load_schema(v["file"]) for vs in _manifest().values() for v in vs}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                match = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
                schema = schemas.get(int(match.group(1))) if match else None
                body = json.dumps(
                    {"schema": json.dumps(schema)} if schema else {"error_code": 40403}
                ).encode()
                self.send_response(200 if schema else 404)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="schema-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class Staged:
    python: list[int]  # the messages (by index in the batch) SQL does not map
    rows: dict[str, int]  # the rows SQL writes, by table


class Unreadable(Exception):
    """These bytes are not one stream of the stage's schema: the batch goes the Python way."""


def _leading_string(value: bytes) -> bytes:
    """The first field of the Avro body (event_id: a zig-zag varint length, then the bytes)."""
    shift = length = 0
    pos = _HEADER.size
    while True:
        if pos >= len(value) or shift > 28:
            raise Unreadable("no event id")
        byte = value[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    length = (length >> 1) ^ -(length & 1)
    if length < 0 or pos + length > len(value):
        raise Unreadable("no event id")
    return value[pos : pos + length]


def _event_ids(values: Sequence[bytes]) -> list[bytes]:
    """Each message's event id. Ids under 64 bytes (uuids, the gateways' ids) have a one-byte length:
    read inline, at half the cost of the general varint (this runs under the GIL, for every message)."""
    ids = []
    start = _HEADER.size + 1
    for v in values:
        n = v[_HEADER.size] if len(v) > _HEADER.size else 0x80
        if n < 0x80 and not n & 1 and start + (n >> 1) <= len(v):  # zig-zag: even is >= 0
            ids.append(v[start : start + (n >> 1)])
        else:
            ids.append(_leading_string(v))
    return ids


class ChargerEventStage:
    """One sink's staging table for charger events, on a client used by that sink alone."""

    TABLES: Final = ("meter_values", "status_changes")  # what the SQL fills; anything else is Python's

    def __init__(self, client: Client, registry_url: str) -> None:
        versions = _manifest()[subject(CHARGER_EVENTS)]
        self.schema_id = int(versions[-1]["id"])
        schema = load_schema(versions[-1]["file"])
        self.client = client
        self.settings = {"format_avro_schema_registry_url": registry_url}
        self._mv, self._sc = (_named(schema)[n] for n in ("MeterValues", "StatusChange"))
        columns = ", ".join(f"{f['name']} {clickhouse_type(f['type'], top=True)}" for f in schema["fields"])
        client.command(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ({columns}) ENGINE = Memory")
        self._frame = _HEADER.pack(0, self.schema_id)
        self._statements = self._inserts()
        self._skip: list[int] = []  # the staged batch's meter values and status changes SQL leaves alone
        # ClickHouse analyses a query anew each time, and the verdict's expression is long (tens of ms to
        # analyse, next to µs a row to run): it is worked out in this one query per batch, and the
        # INSERT ... SELECTs only leave out the rare messages it refuses (self._skip), by their row.
        # One row: the events read, a digest of their ids in order, Python's messages (and which of them
        # are meter values or status changes), the rows SQL writes. One reading thread keeps the Memory
        # table's insertion order: row i is message i.
        mv = f"variantElement(payload, '{self._mv}')"
        kind = f"multiIf(variantType(payload) = '{self._mv}', 1, variantType(payload) = '{self._sc}', 2, 0)"
        self._verdicts = f"""SELECT count(), hex(SHA256(arrayStringConcat(groupArray(
                concat(toString(length(event_id)), ':', event_id))))),
            groupArrayIf(i, NOT fast), groupArrayIf(i, NOT fast AND kind > 0),
            sumIf(length({mv}.samples), fast AND kind = 1), countIf(fast AND kind = 2)
            FROM (SELECT rowNumberInAllBlocks() AS i, event_id, payload, {kind} AS kind,
                         {self._fast()} AS fast FROM {STAGE})
            SETTINGS max_threads = 1, short_circuit_function_evaluation = 'disable'"""

    # -- what SQL maps --------------------------------------------------------------------------
    def _fast(self) -> str:
        """The events SQL maps: a meter value or status change within `schemas.bounds`, text UTF-8.
        Few functions on purpose: analysing them costs more than running them on a batch."""
        register = (
            "s.unit = 'Wh' AND startsWith(s.measurand, 'Energy.') AND position(s.measurand, 'Register') > 0"
        )
        samples_ok = f"""arrayAll(s -> {_in_time("toUnixTimestamp64Milli(s.sampled_at)")}
                AND (isNaN(s.value) OR (isFinite(s.value) AND if({register},
                     s.value >= 0 AND s.value <= {MAX_REGISTER_WH}, abs(s.value) <= {MAX_MEASURAND_ABS}))),
            variantElement(payload, '{self._mv}').samples)"""
        # Every text of the event at once: a tuple's text form quotes its strings but passes their bytes
        # through, and everything else in it is ASCII, so it is UTF-8 exactly when every text is.
        return f"""{_in_time("station_time")} AND {_in_time("received_at")}
            AND connector_id BETWEEN 0 AND {MAX_CONNECTOR_ID}
            AND (evse_id IS NULL OR evse_id BETWEEN 0 AND {MAX_CONNECTOR_ID})
            AND isValidUTF8(toString(tuple(event_id, station_id, source, message_id, payload)))
            AND (variantType(payload) = '{self._sc}'
                 OR (variantType(payload) = '{self._mv}' AND {samples_ok}))"""

    def _from(self, skip: Sequence[int]) -> str:
        """The staged events, numbered in insertion order and without the skipped rows when there are."""
        if not skip:
            return STAGE
        rows = ", ".join(str(int(i)) for i in skip)
        numbered = f"(SELECT *, rowNumberInAllBlocks() AS _i FROM {STAGE})"
        return f"(SELECT * FROM {numbered} WHERE _i NOT IN ({rows}))"

    # -- a batch --------------------------------------------------------------------------------
    def fits(self, values: Sequence[bytes]) -> bool:
        """Every message is a frame of the stage's schema id (no other version, nothing short)."""
        frame = self._frame
        return all(v.startswith(frame) and len(v) > len(frame) for v in values)

    def load(self, values: Sequence[bytes]) -> Staged:
        """Stage the batch: which messages SQL does not map (Python's), and the rows it will write.
        Unreadable when ClickHouse cannot read the bytes as these messages; DatabaseError or
        OperationalError: the store's fault."""
        digest = hashlib.sha256(b"".join(b"%d:%s" % (len(i), i) for i in _event_ids(values)))
        self.client.command(f"TRUNCATE TABLE {STAGE}")
        try:
            self.client.raw_insert(STAGE, None, b"".join(values), fmt="AvroConfluent", settings=self.settings)
        except DatabaseError as exc:
            code = _CODE.search(str(exc))
            if code and int(code.group(1)) in INPUT_ERRORS:
                raise Unreadable(str(exc).splitlines()[0][:300]) from exc
            raise
        count, ids, python, skip, samples, changes = self.client.query(self._verdicts).result_rows[0]
        if count != len(values) or ids != digest.hexdigest().upper():
            raise Unreadable(f"{count} events read from {len(values)} messages, or not theirs in order")
        self._skip = list(skip)
        return Staged(python=list(python), rows={"meter_values": samples, "status_changes": changes})

    def _inserts(self) -> dict[str, str]:
        """Per table the INSERT ... SELECT that fills it, with a {source} and a {token} to fill in (built
        once: the statements are long, and settings inline cost less than the client's per-call settings)."""
        t = "fromUnixTimestamp64Milli"
        mv, sc = f"variantElement(payload, '{self._mv}')", f"variantElement(payload, '{self._sc}')"
        selects = {
            "meter_values": f"""station_id, connector_id, ifNull({mv}.transaction_id, ''), s.sampled_at,
                s.measurand, ifNull(s.phase, ''), ifNull(s.location, ''), s.context, s.unit, s.value,
                s.raw_value, event_id, {t}(received_at, 'UTC') FROM {{source}} ARRAY JOIN {mv}.samples AS s
                WHERE variantType(payload) = '{self._mv}'""",
            "status_changes": f"""station_id, connector_id, {t}(station_time, 'UTC'), {t}(received_at, 'UTC'),
                {sc}.status, ifNull({sc}.error_code, ''), ifNull({sc}.vendor_error_code, ''),
                ifNull({sc}.info, ''), event_id FROM {{source}} WHERE variantType(payload) = '{self._sc}'""",
        }
        # One thread: the same rows make the same blocks, so a retried batch's blocks get the same tokens.
        return {
            table: f"INSERT INTO chargestream.{table} ({', '.join(COLUMNS[table])}) SELECT {select} "
            "SETTINGS max_threads = 1, insert_deduplication_token = {token}"
            for table, select in selects.items()
        }

    def insert(self, token: str) -> None:
        """Fill the tables from the staged batch, each under the batch's token for it."""
        source = self._from(self._skip)
        for table, statement in self._statements.items():
            self.client.command(
                statement.replace("{source}", source).replace("{token}", format_str(f"{token}:{table}"))
            )


def _in_time(expr: str) -> str:
    return f"({expr} >= {MIN_TIME_MS} AND {expr} < {MAX_TIME_MS})"
