"""The imperative shell of `chargestream simulate`: simulate, write the ground truth, send, report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from producers.simulator.simulation import FleetConfig, run
from producers.simulator.truth import iter_truth_lines
from producers.truth import write_truth
from schemas.codec import Codec

VIAS = ("kafka", "ocpp")
OCPP_VERSIONS = ("1.6", "2.0.1", "mixed")  # mixed: even stations 1.6, odd ones 2.0.1


class SimulationRefused(RuntimeError):
    """The gateway would not take the simulated stations (authentication, subprotocol, not running)."""


@dataclass(frozen=True)
class SimulateReport:
    via: str
    events: int
    sessions: int
    incidents: int
    feedback: int
    truth_path: Path
    seconds: float
    refused: tuple[str, ...] = ()  # OCPP CallErrors / feedback the gateway refused

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def run_simulation(
    cfg: FleetConfig,
    *,
    via: str,
    truth_path: Path,
    bootstrap: str,
    codec: Codec,
    gateway_url: str,
    speed: float | None = None,
    ocpp_version: str = "1.6",
    progress: Callable[[str], None] | None = None,
) -> SimulateReport:
    """Kafka: straight onto the topics (DeliveryFailed unless all acknowledged). OCPP: each station a
    client of the gateway at `gateway_url` (SimulationRefused when it cannot connect)."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    sim = run(cfg)
    write_truth(truth_path, iter_truth_lines(sim.truth()))
    say = progress or (lambda _text: None)
    total = len(sim.events)
    t0 = time.monotonic()
    refused: tuple[str, ...] = ()
    if via == "kafka":
        from producers.publisher import EventPublisher
        from producers.simulator.kafka_output import publish_simulation

        publisher = EventPublisher(bootstrap, codec)
        publish_simulation(sim, publisher, speed=speed, progress=lambda n: say(f"published {n}/{total}"))
    else:
        import websockets

        from producers.simulator.ocpp_output import run_via_ocpp

        try:
            stats = asyncio.run(
                run_via_ocpp(
                    sim,
                    gateway_url,
                    speed=speed,
                    version=ocpp_version,
                    progress=lambda n: say(f"sent {n}/{total}"),
                )
            )
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake) as exc:
            raise SimulationRefused(
                f"the OCPP gateway at {gateway_url} refused or is not running ({exc}); is the stack up, "
                "and does the network file accept unknown stations (dev_mode)?"
            ) from exc
        refused = tuple(stats.errors)
    return SimulateReport(
        via,
        total,
        len(sim.sessions),
        len(sim.incidents),
        len(sim.feedback),
        truth_path,
        time.monotonic() - t0,
        refused,
    )
