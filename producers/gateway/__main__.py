"""`python -m producers.gateway` runs the OCPP gateway until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from chargestream.settings import Settings
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.redact import RedactingFilter
from producers.gateway.server import serve
from producers.gateway.tls import server_ssl_context
from schemas.codec import make_codec
from schemas.errors import SetupError
from schemas.network import load_network

log = logging.getLogger("chargestream.gateway")


async def main(settings: Settings) -> None:
    network = load_network(settings.network_path)
    ssl_context = server_ssl_context(settings.gateway_tls_cert, settings.gateway_tls_key)
    publisher = AsyncPublisher(settings.bootstrap)
    ctx = GatewayContext(
        publisher, make_codec(settings.schema_registry_url), settings.id_token_key.encode(), network
    )
    ctx.frames_per_second = settings.gateway_station_rate
    for handler in logging.getLogger().handlers:  # every line of this process, the ocpp library's too
        handler.addFilter(RedactingFilter(ctx.tokens))
    runner = await serve(
        ctx,
        settings.gateway_host,
        settings.gateway_port,
        ssl_context=ssl_context,
        ping_seconds=settings.gateway_ping_seconds,
    )
    scheme = "wss" if ssl_context else "ws"
    log.info(
        "OCPP gateway on %s://%s:%d/ocpp/{station_id} (%d stations in %s), POST /feedback",
        scheme,
        settings.gateway_host,
        settings.gateway_port,
        len(network.stations),
        settings.network_path,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()  # closes the WebSockets (ConnectionChange published); chargers reconnect elsewhere
    publisher.close()
    log.info("gateway stopped: %d events published, %d dead letters", ctx.published, ctx.dead_letters)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    # ocpp logs every frame at INFO, raw idTokens included: keep its warnings and errors only.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    try:
        asyncio.run(main(Settings()))
    except SetupError as exc:
        log.error("%s", exc)
        sys.exit(2)
