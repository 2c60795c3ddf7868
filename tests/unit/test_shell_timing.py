"""The worker's outcome does not depend on timing.

The agent's own functions — Avro decode, `process_batch`, station state through the table codec,
flush markers as the timer writes them (appended to the log later, with the watermark of the moment
it decided), restarts from saved state with re-consumption from the last committed offset — are
driven over simulated fleets with random batch boundaries, random flush points and random crashes,
while the fleet's events are still being produced. The current bills equal those of the pure engine
over the same events in one pass, and the truth.
"""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.simulator import FleetConfig, Pitfalls, simulate
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, Heartbeat, from_record, to_record
from schemas.topics import CHARGER_EVENTS
from streams.batch import process_batch
from streams.policy import Policy
from streams.state_codec import attach_chunks, load_state, split_state
from streams.station import FLUSH_SOURCE, StationState, flush, flush_marker_id
from tests.unit.session_harness import current_bills, run

POLICY = Policy()
CODEC = EmbeddedCodec()
BILL = ("energy_wh", "plugged_in_at", "charging_ended_at", "unplugged_at", "idle_minutes", "cost_total")


def _marker(station_id: str, watermark: int, offset: int) -> bytes:
    """What `streams.agents.flush` writes for a silent station."""
    marker_id = flush_marker_id(station_id, watermark, offset)
    ev = ChargerEvent(marker_id, station_id, 0, watermark, watermark, FLUSH_SOURCE, Heartbeat())
    return CODEC.encode(CHARGER_EVENTS, to_record(ev))


class Changelog(dict[str, bytes]):
    """The stations table as its changelog holds it, written as `StationTable` writes it."""

    def load(self, station_id: str) -> StationState | None:
        raw = self.get(station_id)
        return attach_chunks(load_state(raw), self.get) if raw else None

    def save(self, station_id: str, state: StationState) -> None:
        live, chunks, gone = split_state(state)
        self.update(chunks)
        self[station_id] = live
        for key in gone:
            self.pop(key, None)


def drive_worker(events: list[ChargerEvent], rnd: random.Random) -> list[dict[str, Any]]:
    """Every session record the worker publishes, crashes and re-sends included."""
    source = [CODEC.encode(CHARGER_EVENTS, to_record(ev)) for ev in events]
    log: list[bytes] = []  # the partition: produced events and flush markers, in append order
    produced = pos = committed = 0
    store = Changelog()
    snapshots: list[tuple[int, dict[str, bytes]]] = [(0, {})]
    waiting: dict[str, tuple[int, int]] = {}  # the timer's view: station -> (watermark, offset)
    published: list[dict[str, Any]] = []
    while produced < len(source) or pos < len(log) or waiting:
        if produced < len(source):
            k = rnd.randint(1, 300)
            log += source[produced : produced + k]
            produced += k
        for sid, (watermark, offset) in list(waiting.items()):
            if rnd.random() < 0.3 or produced >= len(source):  # silent long enough
                log.append(_marker(sid, watermark, offset))
                del waiting[sid]
        if pos >= len(log):
            continue
        batch = log[pos : pos + rnd.randint(1, 400)]
        out = process_batch(
            [from_record(CODEC.decode(CHARGER_EVENTS, raw)) for raw in batch],
            store.load,
            store.save,
            POLICY,
            list(range(pos, pos + len(batch))),
        )
        published += [r.to_dict() for r in out.sessions]
        pos += len(batch)
        for sid, state in out.states.items():
            if state.waiting:
                waiting[sid] = (state.watermark, state.offset)
            else:
                waiting.pop(sid, None)
        snapshots.append((pos, dict(store)))
        if rnd.random() < 0.3:
            committed = pos
        if rnd.random() < 0.08:  # killed: the changelog kept some state at or after the commit
            _, saved = rnd.choice([s for s in snapshots if s[0] >= committed])
            store, pos, waiting = Changelog(saved), committed, {}
    for sid in [k for k in store if "#" not in k]:  # the end of the stream: nothing more comes
        state = store.load(sid)
        assert state is not None
        published += [r.to_dict() for r in flush(state, POLICY).sessions]
    return published


def _bills(records: list[dict[str, Any]]) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    return {
        (b["station_id"], b["connector_id"], b["plugged_in_at"]): tuple(b[k] for k in BILL)
        for b in current_bills(records)
    }


@settings(
    max_examples=int(os.environ.get("CHARGESTREAM_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    fleet_seed=st.integers(0, 10_000),
    shell_seed=st.integers(0, 2**32),
    stations=st.integers(1, 3),
    sessions=st.integers(1, 2),
    pitfalls=st.sampled_from([0.0, 1.0, 3.0]),
)
def test_batches_flushes_and_restarts_never_change_a_bill(
    fleet_seed: int, shell_seed: int, stations: int, sessions: int, pitfalls: float
) -> None:
    events, truths = simulate(
        FleetConfig(
            stations=stations,
            connectors_per_station=2,
            sessions_per_connector=sessions,
            meter_interval_s=300,
            seed=fleet_seed,
            pitfalls=Pitfalls().scaled(pitfalls) if pitfalls else Pitfalls.none(),
        )
    )
    published = drive_worker(events, random.Random(shell_seed))
    assert _bills(published) == _bills(run(events, POLICY).sessions)
    by_tx = {(b["station_id"], b["transaction_id"]): b["energy_wh"] for b in current_bills(published)}
    assert by_tx == {(t.station_id, t.transaction_id): t.energy_wh for t in truths}
    versions: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in published:  # a re-sent version is the same record, never a different one
        assert versions.setdefault((rec["session_id"], rec["version"]), rec) == rec
