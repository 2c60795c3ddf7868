"""A read-only subset of the ClickHouse HTTP interface over the embedded store.

Only one process may open a chdb path, and while the stack runs the sink owns it; analysts
reach it here like a ClickHouse server: `curl 'http://127.0.0.1:8123/?query=SELECT+1'`,
POST bodies, `default_format`, `/ping`. What runs is decided by `ReadOnlyQueries` (the engine's
parser and its readonly mode); this module bounds the server: request size, slow clients and
how many requests are served at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from sinks.query_guard import QueryRefused, ReadOnlyQueries

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 1 << 20
MAX_CONCURRENT = 8  # requests in progress; one more gets 503 at once instead of a thread
SOCKET_TIMEOUT_S = 10.0  # a client that sends nothing for this long is dropped
# ClickHouse's own codes, so clients that parse them react as they do to a server.
READONLY_CODE = 164


class BoundedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on threads: a connection beyond it is answered 503 and closed."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, max_concurrent: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.refused_busy = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.refused_busy += 1
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many queries at once: retry shortly\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr for every failed request: a client that resets its
        # connection (or times out) would write one into the sink's log each time it likes.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("query client %s went away: %s", client_address, exc)
        else:
            log.error("query endpoint: request from %s failed", client_address, exc_info=exc)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class QueryServer:
    def __init__(
        self, queries: ReadOnlyQueries, host: str, port: int, max_concurrent: int = MAX_CONCURRENT
    ) -> None:
        self.queries = queries
        self.lock = threading.Lock()  # one handle: queries take turns (each bounded by the engine)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "chargestream-query/1"
            timeout = SOCKET_TIMEOUT_S
            protocol_version = "HTTP/1.1"

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
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                sql = "\n".join(p for p in (params.get("query", ""), body.decode(errors="replace")) if p)
                fmt = params.get("default_format", "TabSeparated")
                # query parameters, as a server takes them: ?param_station=ST-1 for {station:String}
                bound = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
                try:
                    with outer.lock:
                        out = outer.queries.run(sql, fmt, bound)
                except QueryRefused as exc:
                    self._reply(403, f"Code: {READONLY_CODE}. DB::Exception: {exc}. (READONLY)\n".encode())
                    return
                except Exception as exc:
                    self._reply(400, (str(exc).strip() + "\n").encode())
                    return
                self._reply(200, out)

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                raw = self.headers.get("Content-Length")
                if raw is None:
                    self._reply(411, b"Content-Length required\n")
                    return
                if not (raw.strip().isascii() and raw.strip().isdigit()):
                    self._reply(400, b"Content-Length must be a non-negative integer\n")
                    return
                length = int(raw)
                if length > MAX_QUERY_BYTES:
                    self._reply(413, f"query larger than {MAX_QUERY_BYTES} bytes\n".encode())
                    return
                try:
                    body = self.rfile.read(length)
                except TimeoutError:
                    return
                self._handle(body)

        self.httpd = BoundedHTTPServer((host, port), Handler, max_concurrent)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="query-endpoint", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
