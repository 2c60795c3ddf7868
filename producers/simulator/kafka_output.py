"""The simulator's Kafka shell: events onto `charger.events`, feedback onto `driver.feedback`."""

from __future__ import annotations

from collections.abc import Callable

from producers.publisher import EventPublisher
from producers.simulator.feedback import FeedbackReport
from producers.simulator.pacing import Pacer, origin, releases
from producers.simulator.simulation import Simulation
from schemas.topics import DRIVER_FEEDBACK

PROGRESS_EVERY = 1_000


def publish_simulation(
    sim: Simulation,
    publisher: EventPublisher,
    *,
    speed: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish everything in receive-time order (paced by `speed`), then flush: raises
    DeliveryFailed unless Kafka acknowledged every record. Returns the number published."""
    pacer = Pacer(speed, origin(sim))
    n = 0
    for item in releases(sim):
        pacer.wait(item.received_at)
        if isinstance(item, FeedbackReport):
            publisher.publish_record(DRIVER_FEEDBACK, item.station_id, item.record.to_dict())
        else:
            publisher.publish(item)
        n += 1
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n)
    publisher.flush()
    return n
