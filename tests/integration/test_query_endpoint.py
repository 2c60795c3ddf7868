"""The query endpoint over the real embedded engine, probed as a hostile client would (issue #10 §1).

One chdb store, a writer handle (the sink's) and the endpoint's own read-only handle, as in the sink
process; requests go over real HTTP. Each hostile statement must be refused and change nothing;
analysts' statements must still work; a runaway query must not hold up the writer.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from clickhouse_connect.driver.client import Client

from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.query_endpoint import MAX_QUERY_BYTES, QueryServer
from sinks.query_guard import QueryLimits, ReadOnlyQueries
from tests.cli_text import plain

BILL = "SELECT session_id, version, energy_wh FROM chargestream.billing_records FINAL ORDER BY session_id"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Client, QueryServer, Path]]:
    if not (url := f"chdb://{tmp_path / 'clickhouse'}").startswith("chdb:"):
        pytest.fail("the endpoint serves the embedded store")
    writer = connect(url)
    migrate(writer)
    writer.command(
        "INSERT INTO chargestream.billing_records (session_id, version, station_id, connector_id, energy_wh) "
        "VALUES ('real-session', 3, 'ST-1', 1, 7345)"
    )
    queries = ReadOnlyQueries(connect(url), QueryLimits(max_seconds=2), embedded=True)
    server = QueryServer(queries, "127.0.0.1", 0, max_concurrent=4)
    server.start()
    try:
        yield writer, server, tmp_path
    finally:
        server.stop()
        queries.client.close()
        writer.close()


def _post(server: QueryServer, sql: str, fmt: str = "TabSeparated") -> tuple[int, str]:
    host, port = server.address
    req = urllib.request.Request(
        f"http://{host}:{port}/?{urlencode({'default_format': fmt})}", data=sql.encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _hostile(tmp: Path) -> list[str]:
    out = tmp / "outfile.txt"
    return [
        # writes, however the statement starts
        "WITH 1 AS x INSERT INTO chargestream.billing_records (session_id, version, energy_wh) "
        "SELECT 'forged', 1, x",
        "WITH 1 AS x INSERT INTO chargestream.billing_records (session_id, version, energy_wh) "
        "SELECT 'real-session', 999999, x",
        "INSERT INTO chargestream.billing_records (session_id, version, energy_wh) VALUES ('forged', 1, 1)",
        "/* comment */ INSERT INTO chargestream.billing_records (session_id) VALUES ('forged')",
        "ALTER TABLE chargestream.billing_records DELETE WHERE 1",
        "ALTER TABLE chargestream.billing_records UPDATE energy_wh = 1 WHERE 1",
        "DROP TABLE chargestream.billing_records",
        "TRUNCATE TABLE chargestream.billing_records",
        "CREATE TABLE chargestream.x (a UInt8) ENGINE = Memory",
        "RENAME TABLE chargestream.billing_records TO chargestream.gone",
        "OPTIMIZE TABLE chargestream.billing_records FINAL",
        # files, the environment, the Python process
        "SELECT * FROM file('/proc/self/environ', 'RawBLOB', 'x String')",
        "SELECT file('/proc/self/environ')",
        "SELECT file('/etc/passwd')",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT length(FILE('/etc/passwd'))",
        "SELECT * FROM Python('queries')",
        "SELECT * FROM executable('id', 'TSV', 'x String')",
        f"SELECT 1 INTO OUTFILE '{out}' TRUNCATE",
        f"SELECT 1 INTO OUTFILE '{out}' TRUNCATE FORMAT CSV",
        f"EXPLAIN SELECT 1 INTO OUTFILE '{out}'",
        f"SHOW TABLES INTO OUTFILE '{out}'",
        f"DESCRIBE TABLE chargestream.billing_records INTO OUTFILE '{out}'",
        f"INSERT INTO FUNCTION file('{out}', 'CSV', 'a String') SELECT 'x'",
        # other services (SSRF)
        "SELECT * FROM url('http://127.0.0.1:8180/feedback', 'RawBLOB', 'x String')",
        "INSERT INTO FUNCTION url('http://127.0.0.1:8180/feedback', 'JSONEachRow', 'a String') SELECT 'x'",
        "SELECT * FROM s3('http://127.0.0.1:9000/bucket/key', 'CSV', 'a String')",
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        "SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')",
        "SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')",
        "SELECT * FROM cluster('default', system.one)",
        # the usual suspects
        "SELECT 1; INSERT INTO chargestream.billing_records (session_id) VALUES ('forged')",
        "SELECT 1; SELECT 2",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 SETTINGS max_execution_time = 100000",
        "SET readonly = 0",
        "SYSTEM STOP MERGES",
        "SYSTEM SHUTDOWN",
        "KILL QUERY WHERE 1",
        "USE system",
        "GRANT ALL ON *.* TO default",
        "CREATE FUNCTION f AS x -> x",
        "SELECT addressToSymbol(1)",
        "SELECT aiGenerate('hello')",
        "",
    ]


def test_every_hostile_statement_is_refused_and_changes_nothing(
    store: tuple[Client, QueryServer, Path],
) -> None:
    writer, server, tmp = store
    before = writer.query(BILL).result_rows
    answers = {sql: _post(server, sql) for sql in _hostile(tmp)}
    passed = {sql: a for sql, a in answers.items() if a[0] == 200}
    assert not passed, f"served: {passed}"
    assert all(code in (400, 403) for code, _ in answers.values())
    assert writer.query(BILL).result_rows == before == [("real-session", 3, 7345)]
    assert not (tmp / "outfile.txt").exists()
    assert "root:" not in "".join(body for _, body in answers.values())
    # the endpoint's handle is still read-only after all that; the writer's is not
    assert _post(server, "SELECT getSetting('readonly')") == (200, "1\n")
    writer.command("INSERT INTO chargestream.billing_records (session_id, version) VALUES ('after', 1)")


@pytest.mark.parametrize(
    ("sql", "fmt", "expect"),
    [
        ("SELECT energy_wh FROM chargestream.billing_records FINAL", "TabSeparated", "7345\n"),
        ("with x as (select 2 as a) select a * 2 from x;", "TabSeparated", "4\n"),
        (
            "SELECT count() FROM chargestream.billing_records FORMAT JSONEachRow",
            "TabSeparated",
            '{"count()":1}\n',
        ),
        ("SELECT 1 AS a", "CSVWithNames", '"a"\n1\n'),
        ("SELECT sum(number) FROM numbers(10)", "TabSeparated", "45\n"),
        ("SELECT * FROM values('a UInt8', 1, 2) ORDER BY a", "TabSeparated", "1\n2\n"),
        ("SHOW TABLES FROM chargestream LIKE 'billing_rec%'", "TabSeparated", "billing_records\n"),
        ("EXISTS TABLE chargestream.billing_records", "TabSeparated", "1\n"),
        (
            "SELECT name FROM system.columns WHERE table = 'billing_records' AND name = 'energy_wh'",
            "TSV",
            "energy_wh\n",
        ),
        ("SELECT 1 UNION ALL SELECT 2 ORDER BY 1", "TabSeparated", "1\n2\n"),
        ("SELECT extractURLParameter('http://x/?a=1', 'a')", "TabSeparated", "1\n"),
    ],
)
def test_analysts_statements_still_work(
    store: tuple[Client, QueryServer, Path], sql: str, fmt: str, expect: str
) -> None:
    assert _post(store[1], sql, fmt) == (200, expect)


def test_describe_and_explain_work(store: tuple[Client, QueryServer, Path]) -> None:
    code, body = _post(store[1], "DESCRIBE TABLE chargestream.billing_records")
    assert code == 200 and "energy_wh\t" in body
    code, body = _post(store[1], "EXPLAIN SELECT count() FROM chargestream.billing_records")
    assert code == 200 and "ReadFrom" in body, body


def test_a_runaway_query_is_stopped_by_the_engine_and_does_not_hold_up_the_writer(
    store: tuple[Client, QueryServer, Path],
) -> None:
    writer, server, _ = store
    answer: list[tuple[int, str]] = []
    t0 = time.monotonic()
    heavy = threading.Thread(target=lambda: answer.append(_post(server, "SELECT count() FROM numbers(1e12)")))
    heavy.start()
    time.sleep(0.3)
    insert_s = []
    while heavy.is_alive():
        t = time.monotonic()
        writer.command("INSERT INTO chargestream.billing_records (session_id, version) VALUES ('during', 1)")
        insert_s.append(time.monotonic() - t)
        time.sleep(0.1)
    heavy.join()
    elapsed = time.monotonic() - t0
    code, body = answer[0]
    assert code == 400 and "TIMEOUT_EXCEEDED" in body, body
    assert elapsed < 20  # the 2 s limit, not the 57 s the issue saw
    assert insert_s and max(insert_s) < 1.5, insert_s  # the writer kept writing meanwhile


def test_result_size_is_bounded(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'clickhouse'}"
    client = connect(url)
    try:
        queries = ReadOnlyQueries(client, QueryLimits(max_result_rows=1000), embedded=True)
        assert queries.run("SELECT number FROM numbers(1000)").count(b"\n") == 1000
        with pytest.raises(Exception, match=r"TOO_MANY_ROWS_OR_BYTES|Limit for result"):
            queries.run("SELECT number FROM numbers(100000)")
    finally:
        client.close()


def _raw_request(server: QueryServer, head: bytes, timeout: float = 15) -> bytes:
    with socket.create_connection(server.address, timeout=timeout) as s:
        s.sendall(head)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_content_length_is_validated(store: tuple[Client, QueryServer, Path]) -> None:
    server = store[1]
    for value, status in [(b"-1", b"400"), (b"abc", b"400"), (str(MAX_QUERY_BYTES + 1).encode(), b"413")]:
        reply = _raw_request(
            server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\nSELECT 1"
        )
        assert reply.split(b" ", 2)[1] == status, reply
    reply = _raw_request(server, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.split(b" ", 2)[1] == b"411"


def test_half_open_sockets_cost_no_more_than_the_cap(store: tuple[Client, QueryServer, Path]) -> None:
    server = store[1]
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(60)]
    try:
        deadline = time.monotonic() + 10  # until the accept loop has seen all 60, not a guessed pause
        while server.httpd.refused_busy < 56 and time.monotonic() < deadline:
            time.sleep(0.05)
        threads = sum(1 for t in threading.enumerate() if t.name.startswith("Thread-"))
        assert server.httpd.refused_busy >= 50  # beyond the 4 slots: answered 503 and closed
        assert threads <= 4 + 2
        for s in idle[4:10]:
            assert s.recv(100).startswith(b"HTTP/1.1 503")
    finally:
        for s in idle:
            s.close()
    # once the half-open ones go, queries are served again
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _post(server, "SELECT 1")[0] != 200:
        time.sleep(0.2)
    assert _post(server, "SELECT 1") == (200, "1\n")


def test_ping(store: tuple[Client, QueryServer, Path]) -> None:
    host, port = store[1].address
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/ping")
    assert conn.getresponse().read() == b"Ok.\n"


def test_chargestream_sql_without_the_stack_is_guarded_the_same_way(tmp_path: Path) -> None:
    from chargestream.query import QueryError, run_query
    from chargestream.settings import Settings

    settings = Settings(state_dir=tmp_path)
    assert run_query(settings, "SELECT count() FROM chargestream.billing_records") == "0\n"
    for sql in (
        "SELECT file('/etc/passwd')",
        "WITH 1 AS x INSERT INTO chargestream.billing_records (session_id) SELECT 'forged'",
        f"SELECT 1 INTO OUTFILE '{tmp_path / 'out'}'",
    ):
        with pytest.raises(QueryError):
            run_query(settings, sql)
    assert run_query(settings, "SELECT count() FROM chargestream.billing_records") == "0\n"
    assert not (tmp_path / "out").exists()


def test_chargestream_sql_writes_binary_formats_to_a_pipe_and_refuses_them_on_a_terminal(
    tmp_path: Path,
) -> None:
    import os
    import pty
    import subprocess
    import sys

    import pyarrow.parquet as pq

    env = os.environ | {"CHARGESTREAM_STATE_DIR": str(tmp_path)}
    env.pop("CHARGESTREAM_CLICKHOUSE_URL", None)
    command = [sys.executable, "-m", "chargestream.cli", "sql", "SELECT number AS n FROM numbers(3)", "-f"]
    piped = subprocess.run([*command, "Parquet"], env=env, capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    (tmp_path / "out.parquet").write_bytes(piped.stdout)
    assert pq.read_table(tmp_path / "out.parquet").column("n").to_pylist() == [0, 1, 2]
    leader, follower = pty.openpty()
    try:
        tty = subprocess.run(
            [*command, "Parquet"], env=env, stdout=follower, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert tty.returncode == 1 and "binary format" in plain(tty.stderr.decode())


def test_the_clickhouse_connect_http_client_works_read_only(store: tuple[Client, QueryServer, Path]) -> None:
    """What analysts' notebooks use: clickhouse-connect's own HTTP client, as against a server."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    writer, server, _ = store
    host, port = server.address
    client = clickhouse_connect.get_client(host=host, port=port)
    try:
        sql = (
            "SELECT station_id, energy_wh FROM chargestream.billing_records FINAL "
            "WHERE session_id = 'real-session'"
        )
        assert client.query(sql).result_rows == [("ST-1", 7345)]
        df = client.query_df(sql)
        assert list(df.columns) == ["station_id", "energy_wh"] and int(df["energy_wh"][0]) == 7345
        table = client.query_arrow(sql)
        assert table.column("energy_wh").to_pylist() == [7345]
        # parameters are bound by the client, as against a server
        bound = client.query(
            "SELECT count() FROM chargestream.billing_records FINAL WHERE station_id = {s:String}",
            parameters={"s": "ST-1"},
        )
        assert bound.result_rows == [(1,)]
        # a value is a literal in the parsed tree, whatever it holds
        forged = client.query(
            "SELECT count() FROM chargestream.billing_records FINAL WHERE station_id = {s:String}",
            parameters={"s": "x' OR 1 = 1 OR '"},
        )
        assert forged.result_rows == [(0,)]
        # an empty value is a value (a server binds `param_s=` as ''), not a missing one
        empty = client.query("SELECT {s:String} = '' AS blank", parameters={"s": ""})
        assert empty.result_rows == [(True,)]
        with pytest.raises(DatabaseError, match="read-only"):
            client.command(
                "INSERT INTO chargestream.billing_records (session_id, version) VALUES ('forged', 1)"
            )
    finally:
        client.close()
    assert writer.query(
        "SELECT count() FROM chargestream.billing_records WHERE session_id = 'forged'"
    ).result_rows == [(0,)]


def test_a_grafana_style_json_client_gets_meta_and_data(store: tuple[Client, QueryServer, Path]) -> None:
    """Dashboards POST the statement with FORMAT JSON and read `meta` (names, types) and `data`."""
    status, body = _post(
        store[1],
        "SELECT station_id, sum(energy_wh) AS wh FROM chargestream.billing_records FINAL "
        "GROUP BY station_id FORMAT JSON",
    )
    assert status == 200
    doc = json.loads(body)
    assert [m["name"] for m in doc["meta"]] == ["station_id", "wh"]
    assert [(d["station_id"], int(d["wh"])) for d in doc["data"]] == [("ST-1", 7345)] and doc["rows"] == 1


def test_a_client_that_resets_its_connection_leaves_no_traceback(
    store: tuple[Client, QueryServer, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    server = store[1]
    for _ in range(5):  # half a request line, then a TCP reset (SO_LINGER 0) instead of a close
        s = socket.create_connection(server.address, timeout=5)
        s.sendall(b"GET /?query=SEL")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert _post(server, "SELECT 1") == (200, "1\n")  # served after them (the resets are handled)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err
