"""The gateway process: serve OCPP and /feedback until SIGTERM, from a GatewayConfig."""

from __future__ import annotations

import asyncio
import logging
import signal

from producers.async_publisher import AsyncPublisher
from producers.gateway.clock import tick_until
from producers.gateway.config import GatewayConfig
from producers.gateway.context import GatewayContext
from producers.gateway.redact import RedactingFilter
from producers.gateway.server import serve
from producers.gateway.tls import server_ssl_context
from schemas.codec import make_codec
from schemas.metrics_port import serve_metrics

log = logging.getLogger(__name__)


async def run(config: GatewayConfig) -> None:
    serve_metrics("gateway", config.metrics_host, config.metrics_port)
    ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    publisher = AsyncPublisher(config.bootstrap)
    ctx = GatewayContext(publisher, make_codec(config.registry_url), config.id_token_key, config.network)
    ctx.frames_per_second = config.station_rate
    for handler in logging.getLogger().handlers:  # every line of this process, the ocpp library's too
        handler.addFilter(RedactingFilter(ctx.tokens))
    # ocpp logs every frame at INFO, raw idTokens included: keep its warnings and errors only.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    runner = await serve(
        ctx, config.host, config.port, ssl_context=ssl_context, ping_seconds=config.ping_seconds
    )
    scheme = "wss" if ssl_context else "ws"
    log.info(
        "OCPP gateway on %s://%s:%d/ocpp/{station_id} (%d stations in %s), POST /feedback",
        scheme,
        config.host,
        config.port,
        len(config.network.stations),
        config.network_source or "the given network",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = None
    if config.clock_seconds > 0:
        clock = asyncio.create_task(tick_until(publisher, ctx.codec, config.clock_seconds, stop))
    await stop.wait()
    if clock is not None:
        await clock
    await runner.cleanup()  # closes the WebSockets (ConnectionChange published); chargers reconnect elsewhere
    publisher.close()
    log.info("gateway stopped: %d events published, %d dead letters", ctx.published, ctx.dead_letters)
