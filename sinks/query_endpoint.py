"""A read-only subset of the ClickHouse HTTP interface over the embedded store.

Only one process may open a chdb path, and while the stack runs the sink owns it; analysts
reach it here like a ClickHouse server: `curl 'http://127.0.0.1:8123/?query=SELECT+1'`,
POST bodies, `default_format`, `/ping`. Anything but a read statement is refused.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from clickhouse_connect.driver.client import Client

_READ_STATEMENT = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b", re.IGNORECASE)
_HAS_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.IGNORECASE)
MAX_QUERY_BYTES = 1 << 20


class ReadOnlyViolation(ValueError):
    pass


def check_read_only(sql: str) -> str:
    """The statement to run, or ReadOnlyViolation: one read statement only."""
    stmt = sql.strip().rstrip(";").strip()
    if not stmt:
        raise ReadOnlyViolation("empty query")
    if ";" in stmt:
        raise ReadOnlyViolation("one statement per request")
    if not _READ_STATEMENT.match(stmt):
        raise ReadOnlyViolation(
            "this endpoint is read-only: SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN only"
        )
    return stmt


class QueryServer:
    def __init__(self, client: Client, lock: threading.Lock, host: str, port: int) -> None:
        self.client = client
        self.lock = lock
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "chargestream-query/1"

            def log_message(self, format: str, *args: object) -> None:  # quiet: the sink log is for data
                pass

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=UTF-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, body: bytes) -> None:
                url = urlparse(self.path)
                if url.path in ("/ping", "/ping/"):
                    self._reply(200, b"Ok.\n")
                    return
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                sql = " ".join(p for p in (params.get("query", ""), body.decode(errors="replace")) if p)
                try:
                    stmt = check_read_only(sql)
                except ReadOnlyViolation as exc:
                    self._reply(403, f"Code: 164. DB::Exception: {exc}. (READONLY)\n".encode())
                    return
                fmt = None if _HAS_FORMAT.search(stmt) else params.get("default_format", "TabSeparated")
                try:
                    with outer.lock:
                        out = outer.client.raw_query(stmt, fmt=fmt)
                except Exception as exc:
                    self._reply(400, (str(exc).strip() + "\n").encode())
                    return
                self._reply(200, out)

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_QUERY_BYTES:
                    self._reply(413, b"query too large\n")
                    return
                self._handle(self.rfile.read(length))

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="query-endpoint", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
