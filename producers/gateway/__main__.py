"""`python -m producers.gateway` runs the OCPP gateway until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from chargestream.settings import Settings
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.server import serve
from schemas.codec import make_codec

log = logging.getLogger("chargestream.gateway")


async def main(settings: Settings) -> None:
    publisher = AsyncPublisher(settings.bootstrap)
    ctx = GatewayContext(publisher, make_codec(settings.schema_registry_url), settings.id_token_key.encode())
    runner = await serve(ctx, settings.gateway_host, settings.gateway_port)
    log.info("OCPP gateway on ws://%s:%d/ocpp/{station_id}", settings.gateway_host, settings.gateway_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()  # closes the WebSockets; chargers reconnect to another instance
    publisher.close()
    log.info("gateway stopped: %d events published, %d dead letters", ctx.published, ctx.dead_letters)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(Settings()))
