"""`make soak-pipeline`: many simulated fleets at once through the real broker, worker and sink.

Not part of the default run (marker `soak`): it takes minutes. Fleets are published together, in
waves, so the worker's batches mix stations and partitions under load — the conditions in which a
station's state was once read from another partition's store. Every fleet's bills must equal the
pure engine's for the same events, and the truth.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, Pitfalls, simulate
from schemas.codec import EmbeddedCodec
from tests.unit.session_harness import run

SEEDS = int(os.environ.get("CHARGESTREAM_SOAK_SEEDS", "30"))
WAVE = 6


def _billed(settings: Settings, seed: int) -> dict[tuple[str, str], int]:
    rows = scalar(
        settings,
        "SELECT station_id, transaction_id, energy_wh FROM chargestream.billing_records FINAL "
        f"WHERE station_id LIKE 'SIM-{seed}s-%'",
    )
    return {(s, t): int(e) for s, t, e in (ln.split("\t") for ln in rows.splitlines() if ln)}


@pytest.mark.soak
def test_many_fleets_at_once_are_billed_exactly(stack_settings: Settings) -> None:
    rnd = random.Random()
    seeds = rnd.sample(range(1, 10**6), SEEDS)
    print(f"soak seeds: {seeds}")
    stack.up(stack_settings, say=lambda _line: None)
    failures: list[str] = []
    try:
        publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
        for start in range(0, len(seeds), WAVE):
            wave = seeds[start : start + WAVE]
            expected: dict[int, dict[tuple[str, str], int]] = {}
            for seed in wave:
                events, truths = simulate(
                    FleetConfig(
                        stations=3,
                        connectors_per_station=2,
                        sessions_per_connector=2,
                        seed=seed,
                        run_tag="s",
                        pitfalls=Pitfalls() if seed % 2 else Pitfalls.none(),
                    )
                )
                truth = {(t.station_id, t.transaction_id): t.energy_wh for t in truths}
                pure = {
                    (b["station_id"], b["transaction_id"]): b["energy_wh"]
                    for b in run(events).current_bills()
                }
                assert pure == truth, f"seed {seed}: the pure engine itself is off"
                expected[seed] = truth
                publisher.publish_all(events)
            deadline = time.monotonic() + 180
            pending = set(wave)
            while pending and time.monotonic() < deadline:
                pending = {s for s in pending if _billed(stack_settings, s) != expected[s]}
                time.sleep(1.0)
            failures += [f"seed {s}: {_billed(stack_settings, s)} != {expected[s]}" for s in sorted(pending)]
    finally:
        stack.down(stack_settings, say=lambda _line: None)
    assert not failures, failures
    print(f"soak: {len(seeds)} fleets billed exactly")
