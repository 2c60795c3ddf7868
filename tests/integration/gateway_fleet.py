"""A simulated fleet sent by real `ocpp` clients (one per station) through an in-process gateway."""

from __future__ import annotations

import asyncio

from chargestream.kafka_local import free_port
from producers.async_publisher import AsyncPublisher
from producers.gateway.context import GatewayContext
from producers.gateway.server import serve
from producers.simulator.identity import ID_TOKEN_KEY
from producers.simulator.ocpp_output import OcppStats, run_via_ocpp
from producers.simulator.simulation import Simulation
from schemas.codec import EmbeddedCodec
from schemas.network import NetworkConfig


def through_gateway(
    bootstrap: str, sim: Simulation, *, version: str = "1.6", timeout: float = 30
) -> OcppStats:
    """Every station of ``sim`` speaks ``version`` to a dev-mode gateway publishing to ``bootstrap``;
    returns once all have been answered and the gateway has closed their connections."""

    async def scenario() -> OcppStats:
        publisher = AsyncPublisher(bootstrap)
        ctx = GatewayContext(publisher, EmbeddedCodec(), ID_TOKEN_KEY, NetworkConfig(dev_mode=True))
        port = free_port()
        runner = await serve(ctx, "127.0.0.1", port)
        try:
            return await run_via_ocpp(sim, f"ws://127.0.0.1:{port}", version=version, timeout=timeout)
        finally:
            await runner.cleanup()
            publisher.close()

    return asyncio.run(scenario())
