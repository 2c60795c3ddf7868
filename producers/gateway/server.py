"""The gateway's HTTP side (aiohttp): OCPP WebSockets on /ocpp/{station_id}, POST /feedback.

aiohttp rather than `websockets` serves the port because the contract puts a JSON POST
(/feedback) beside the WebSockets, and `websockets` refuses request bodies. The OCPP protocol
itself is the `ocpp` package's; chargers and tests connect with any WebSocket client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import uuid

from aiohttp import WSCloseCode, WSMsgType, web

from producers.gateway import metrics
from producers.gateway.auth import StationAuthenticator
from producers.gateway.context import GatewayContext, now_ms
from producers.gateway.feedback import feedback_handler
from producers.gateway.limits import MAX_CONNECTIONS, REFUSED, ConnectionSlots, shown, valid_station_id
from producers.gateway.v16.charge_point import ChargePoint16
from producers.gateway.v201.charge_point import ChargePoint201
from schemas.events import ConnectionChange

log = logging.getLogger(__name__)
CHARGE_POINTS: dict[str, type[ChargePoint16] | type[ChargePoint201]] = {
    "ocpp2.0.1": ChargePoint201,
    "ocpp1.6": ChargePoint16,
}
SUBPROTOCOLS = tuple(CHARGE_POINTS)
MAX_FRAME_BYTES = 64 * 1024
DEFAULT_PING_SECONDS = 60.0
REPLACE_WAIT_SECONDS = 5.0


class Connection:
    """One station's WebSocket, as ocpp's ChargePoint expects a connection (recv/send), plus why it ended."""

    def __init__(self, ws: web.WebSocketResponse, station_id: str) -> None:
        self.ws = ws
        self.station_id = station_id
        self.id = uuid.uuid4().hex
        self.done = asyncio.Event()
        self.gateway_reason: str | None = None  # set when the gateway itself ends the connection
        self._peer_close: tuple[int, str] | None = None

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.TEXT:
                return str(msg.data)
            if msg.type == WSMsgType.BINARY:
                return bytes(msg.data).decode(errors="replace")
            if msg.type == WSMsgType.CLOSE:
                self._peer_close = (int(msg.data), str(msg.extra or ""))
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise ConnectionError(f"websocket closed ({msg.type.name})")

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)

    def lost_reason(self, ping_seconds: float | None) -> str:
        return lost_reason(
            self.gateway_reason, self._peer_close, self.ws.close_code, self.ws.exception(), ping_seconds
        )


def lost_reason(
    gateway_reason: str | None,
    peer_close: tuple[int, str] | None,
    close_code: int | None,
    error: BaseException | None,
    ping_seconds: float | None,
) -> str:
    """Why a connection ended, in words an operator can act on."""
    if gateway_reason:
        return gateway_reason
    if isinstance(error, TimeoutError):
        pong = f" within {ping_seconds / 2:g} s" if ping_seconds else ""
        return f"ping timeout (no pong{pong})"
    # aiohttp's parser error (WebSocketError) carries the close code it answered with
    if WSCloseCode.MESSAGE_TOO_BIG in (close_code, getattr(error, "code", None)):
        return f"frame over {MAX_FRAME_BYTES} bytes (1009)"
    if peer_close is not None:
        code, text = peer_close
        return f"closed by station ({code}{': ' + text if text else ''})"
    if error is not None:
        return f"connection error: {error}"
    return "connection lost (no close frame)"


class Connections:
    """The live connection of each station: a station that reconnects replaces its old connection, so
    the old one's ConnectionChange(False) is published before the new one's ConnectionChange(True)."""

    def __init__(self) -> None:
        self._by_station: dict[str, Connection] = {}

    def __len__(self) -> int:
        return len(self._by_station)

    async def replace(self, conn: Connection) -> None:
        old = self._by_station.get(conn.station_id)
        self._by_station[conn.station_id] = conn
        if old is None:
            return
        old.gateway_reason = "replaced by a new connection"
        closing = asyncio.create_task(
            old.ws.close(code=WSCloseCode.OK, message=b"replaced by a new connection")
        )
        try:
            await asyncio.wait_for(old.done.wait(), REPLACE_WAIT_SECONDS)
        except TimeoutError:
            log.warning("%s: old connection did not end within %.0f s", conn.station_id, REPLACE_WAIT_SECONDS)
        await asyncio.gather(closing, return_exceptions=True)

    def remove(self, conn: Connection) -> None:
        if self._by_station.get(conn.station_id) is conn:
            del self._by_station[conn.station_id]

    async def close_all(self, reason: str, timeout: float = 10.0) -> None:
        conns = list(self._by_station.values())
        for conn in conns:
            conn.gateway_reason = reason
        await asyncio.gather(
            *(c.ws.close(code=WSCloseCode.GOING_AWAY, message=reason.encode()) for c in conns),
            return_exceptions=True,
        )
        if conns:
            await asyncio.wait([asyncio.create_task(c.done.wait()) for c in conns], timeout=timeout)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


CTX = web.AppKey("ctx", GatewayContext)
AUTH = web.AppKey("auth", StationAuthenticator)
LIVE = web.AppKey("live", Connections)
PING = web.AppKey("ping", float)
SLOTS = web.AppKey("slots", ConnectionSlots)


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="chargestream OCPP", charset="UTF-8"'},
        text="401: station authentication failed (HTTP Basic, username = station id)\n",
    )


async def ocpp_handler(request: web.Request) -> web.StreamResponse:
    station_id = request.match_info["station_id"]
    if not valid_station_id(station_id):
        REFUSED.labels("bad_station_id").inc()
        log.warning(
            "refused a connection (from %s): invalid station id %r", request.remote, shown(station_id)
        )
        return web.Response(
            status=400,
            text="400: a station id is 1-48 characters of A-Z a-z 0-9 * _ = + | @ . - (OCPP identity)\n",
        )
    slots = request.app[SLOTS]
    if not slots.acquire():
        log.warning("%s refused: %d connections, the gateway's cap", station_id, slots.limit)
        return web.Response(
            status=503,
            headers={"Retry-After": "30"},
            text="503: gateway at its connection cap, retry later\n",
        )
    try:
        return await _serve_station(request, station_id)
    finally:
        slots.release()


async def _serve_station(request: web.Request, station_id: str) -> web.StreamResponse:
    ctx, live, ping = request.app[CTX], request.app[LIVE], request.app[PING]
    decision = await request.app[AUTH].authenticate(station_id, request.headers.get("Authorization"))
    if not decision.allowed:
        log.warning("%s refused (from %s): %s", station_id, request.remote, decision.reason)
        return _unauthorized()
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    chosen = next((p for p in offered if p in CHARGE_POINTS), None)
    if chosen is None:
        return web.Response(
            status=400,
            text=f"unsupported OCPP subprotocol {offered or 'none'}; "
            f"offer one of {', '.join(SUBPROTOCOLS)}\n",
        )
    ws = web.WebSocketResponse(protocols=(chosen,), max_msg_size=MAX_FRAME_BYTES, heartbeat=ping or None)
    await ws.prepare(request)
    conn = Connection(ws, station_id)
    await live.replace(conn)
    log.info("%s connected (%s, %s)", station_id, chosen, decision.reason)
    connected = metrics.CONNECTIONS.labels(chosen)
    connected.inc()
    try:
        await _connection_change(ctx, conn, chosen, ConnectionChange(True))
        await CHARGE_POINTS[chosen](station_id, conn, ctx).start()
    except ConnectionError:
        pass
    except Exception:
        # Kafka refused an event or the DLQ: the station gets no answer and will retry elsewhere.
        log.exception("%s: connection ended by an error", station_id)
        conn.gateway_reason = "gateway error"
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"gateway error")
    finally:
        if not ws.closed:
            await ws.close()
        reason = conn.lost_reason(ping)
        log.info("%s disconnected: %s", station_id, reason)
        try:
            await _connection_change(ctx, conn, chosen, ConnectionChange(False, reason))
        except Exception:
            log.exception("%s: ConnectionChange(False) not published", station_id)
        live.remove(conn)
        conn.done.set()
        connected.dec()
    return ws


async def _connection_change(
    ctx: GatewayContext, conn: Connection, source: str, change: ConnectionChange
) -> None:
    """Observed by the gateway, so station time = receive time = the gateway's clock."""
    at = now_ms()
    key = f"conn:{conn.id}:{'up' if change.connected else 'down'}"
    await ctx.emit(conn.station_id, 0, at, None, change, source, event_key=key, received_at=at)


async def _feedback(request: web.Request) -> web.Response:
    return await feedback_handler(request, request.app[CTX])


def build_app(
    ctx: GatewayContext, *, ping_seconds: float = DEFAULT_PING_SECONDS, max_connections: int = MAX_CONNECTIONS
) -> web.Application:
    app = web.Application(client_max_size=MAX_FRAME_BYTES)
    app[SLOTS] = ConnectionSlots(max_connections)
    app[CTX] = ctx
    app[AUTH] = StationAuthenticator(ctx.network)
    app[LIVE] = Connections()
    app[PING] = ping_seconds
    app.router.add_get("/ocpp/{station_id}", ocpp_handler)
    app.router.add_post("/feedback", _feedback)

    async def close_connections(app: web.Application) -> None:
        await app[LIVE].close_all("gateway shutdown")

    async def stop_auth(app: web.Application) -> None:
        app[AUTH].close()

    app.on_shutdown.append(close_connections)
    app.on_cleanup.append(stop_auth)
    return app


async def serve(
    ctx: GatewayContext,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    ping_seconds: float = DEFAULT_PING_SECONDS,
    backlog: int = 1024,  # a reconnect storm after a gateway restart arrives all at once
    max_connections: int = MAX_CONNECTIONS,
) -> web.AppRunner:
    if ctx.network.dev_mode:
        if not _loopback(host):
            log.warning(
                "dev_mode: serving on 127.0.0.1 instead of %s (dev mode never listens beyond this host)", host
            )
            host = "127.0.0.1"
        log.warning(
            "network dev_mode is on: stations missing from the network file connect without a password, "
            "on 127.0.0.1 only (never in production; set CHARGESTREAM_NETWORK_FILE)"
        )
    runner = web.AppRunner(
        build_app(ctx, ping_seconds=ping_seconds, max_connections=max_connections), access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=backlog).start()
    return runner
