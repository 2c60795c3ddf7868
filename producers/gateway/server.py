"""The gateway's HTTP side (aiohttp): OCPP WebSockets on /ocpp/{station_id}, POST /feedback.

aiohttp rather than `websockets` serves the port because the contract puts a JSON POST
(/feedback) beside the WebSockets, and `websockets` refuses request bodies. The OCPP protocol
itself is the `ocpp` package's; chargers and tests connect with any WebSocket client.
"""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from producers.gateway.context import GatewayContext
from producers.gateway.ocpp16 import ChargePoint16

log = logging.getLogger("chargestream.gateway")
SUBPROTOCOLS = ("ocpp1.6",)
CTX = web.AppKey("ctx", GatewayContext)
MAX_FRAME_BYTES = 64 * 1024


class _Connection:
    """What ocpp's ChargePoint expects of a connection (recv/send), over an aiohttp WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.TEXT:
                return str(msg.data)
            if msg.type == WSMsgType.BINARY:
                return bytes(msg.data).decode(errors="replace")
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise ConnectionError(f"websocket closed ({msg.type.name})")

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


async def ocpp_handler(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    station_id = request.match_info["station_id"]
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
    if chosen is None:
        return web.Response(
            status=400,
            text=f"unsupported OCPP subprotocol {offered or 'none'}; "
            f"offer one of {', '.join(SUBPROTOCOLS)}\n",
        )
    ws = web.WebSocketResponse(protocols=(chosen,), max_msg_size=MAX_FRAME_BYTES, heartbeat=None)
    await ws.prepare(request)
    cp = ChargePoint16(station_id, _Connection(ws), ctx)
    log.info("%s connected (%s)", station_id, chosen)
    try:
        await cp.start()
    except ConnectionError as exc:
        log.info("%s disconnected: %s", station_id, exc)
    finally:
        if not ws.closed:
            await ws.close()
    return ws


def build_app(ctx: GatewayContext) -> web.Application:
    app = web.Application(client_max_size=MAX_FRAME_BYTES)
    app[CTX] = ctx
    app.router.add_get("/ocpp/{station_id}", ocpp_handler)
    return app


async def serve(ctx: GatewayContext, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
