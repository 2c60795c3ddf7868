"""One connector's history: its journal of events, the state derived from it, what was sent. Pure.

The bill of a session is a function of the connector's events in event-time order, never of the
order they arrived in. Events almost always arrive in order for their connector — even an offline
queue delivered hours late is in order *for its connector* — and are applied to the head state at
once. One that arrives out of order (older than what the connector already applied, or older than a
timer that already fired) is inserted in its place in the journal and the history is re-derived
from the last checkpoint; once the station's events up to the watermark of that moment are in, the
ledger is reconciled with the re-derived history (a credit and a new bill where a bill changed).

The journal keeps the events since a checkpoint: a snapshot taken where the connector was free. The
checkpoint moves forward once it is older than the correction window and the last closed session
lies after it (so the stop of a session closed on an estimate can still arrive). An event older
than the checkpoint is too late to change anything and is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Final

from schemas.events import MeterValues, TransactionEvent
from streams.billing import StationInfo
from streams.compact import fields_reduce
from streams.journal import Journal, Key, Pending
from streams.ledger import Collector, Discard, Ledger, Live, Outbox, Recorder, reconcile
from streams.policy import Policy
from streams.sessions import ConnectorState, Ctx, apply, fire_timers, next_timer, used_by_sessions

DUPLICATE: Final = "duplicate"


def slim(item: Pending) -> Pending:
    """The event as the journal keeps it: without the samples no session uses (SoC, voltages…)."""
    p = item.event.payload
    if not isinstance(p, MeterValues | TransactionEvent) or not p.samples:
        return item
    kept = tuple(s for s in p.samples if used_by_sessions(s))
    if len(kept) == len(p.samples):
        return item
    event = dataclasses.replace(item.event, payload=dataclasses.replace(p, samples=kept))
    return dataclasses.replace(item, event=event)


@dataclass(frozen=True, slots=True)
class Env:
    """The station around a connector."""

    station_id: str
    info: StationInfo
    policy: Policy

    def ctx(self, recorder: Recorder) -> Ctx:
        return Ctx(self.station_id, self.info, self.policy, recorder)


@dataclass(slots=True)
class Checkpoint:
    """The connector's state after the event ``key`` (pickled: taken often, used rarely)."""

    __reduce__ = fields_reduce

    key: Key
    opened: int  # sessions opened before it
    blob: bytes

    @classmethod
    def of(cls, key: Key, state: ConnectorState) -> Checkpoint:
        return cls(key, state.opened, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def state(self) -> ConnectorState:
        restored: ConnectorState = pickle.loads(self.blob)  # our own state, written by us
        return restored


@dataclass(slots=True)
class ConnectorLog:
    __reduce__ = fields_reduce

    connector_id: int
    head: ConnectorState
    base: Checkpoint | None = None  # None: the empty state before the connector's first event
    journal: Journal = field(default_factory=Journal)
    candidates: list[Checkpoint] = field(default_factory=list)  # free points after the base
    timers_at: int = 0  # timers have been run up to this event time
    last_timer_due: int = 0  # the due time of the latest timer that fired
    stale: bool = False  # the head must be re-derived before it is used
    reconcile_due: int | None = None  # re-derived: reconcile once the station's frontier is here
    ledger: Ledger = field(default_factory=Ledger)

    @classmethod
    def new(cls, connector_id: int) -> ConnectorLog:
        return cls(connector_id, ConnectorState(connector_id))

    @property
    def waiting(self) -> bool:
        """Something is due once time moves on: a reconciliation."""
        return self.reconcile_due is not None


def deliver(log: ConnectorLog, item: Pending, env: Env, out: Outbox, watermark: int) -> str | None:
    """Take one event of the connector. Returns None, DUPLICATE, or why it was refused."""
    if log.base is not None and item.key <= log.base.key:
        return (
            f"older than what connector {log.connector_id} keeps (its sessions up to "
            f"{log.base.key[0]} ms are final): a re-send of a finished session, or too late to correct"
        )
    item = slim(item)
    last = log.journal.last_key
    if last is not None and item.key == last:
        return DUPLICATE
    in_order = last is None or item.key > last
    if in_order and log.stale:
        _rederive(log, env, Discard())
    if in_order and item.at >= log.last_timer_due:
        log.journal.append(item)
        ctx = env.ctx(Live(log.ledger, out))
        _fired(log, fire_timers(ctx, log.head, item.at))
        apply(ctx, log.head, item.event, item.at, item.clock_flag)
        _candidate(log.candidates, item.key, log.head)
        return None
    if not log.journal.insert(item):
        return DUPLICATE
    log.stale = True
    if log.reconcile_due is None:  # a burst of late events: one reconciliation after all of them
        log.reconcile_due = max(watermark, item.at)
    return None


def advance(log: ConnectorLog, env: Env, now: int, out: Outbox) -> None:
    """Run the timers due up to event time ``now`` (the station's frontier moved)."""
    if now <= log.timers_at:
        return
    log.timers_at = now
    if log.stale:  # a stale head runs its timers when it is re-derived
        return
    due = next_timer(log.head, env.policy)
    if due is not None and due <= now:
        _fired(log, fire_timers(env.ctx(Live(log.ledger, out)), log.head, now))


def settle(log: ConnectorLog, env: Env, frontier: int, out: Outbox) -> None:
    """Reconcile a re-derived history once it is due, and move the checkpoint forward."""
    if log.reconcile_due is not None and log.reconcile_due <= frontier:
        derived = Collector()
        _rederive(log, env, derived)
        reconcile(log.ledger, derived, log.reconcile_due, out)
        log.reconcile_due = None
    if not log.stale and log.reconcile_due is None:
        _compact(log, env.policy, frontier)


def _fired(log: ConnectorLog, due: int | None) -> None:
    if due is not None:
        log.last_timer_due = max(log.last_timer_due, due)


def _rederive(log: ConnectorLog, env: Env, recorder: Recorder) -> None:
    """The head state anew from the checkpoint and the journal, timers run as time passed."""
    state = log.base.state() if log.base is not None else ConnectorState(log.connector_id)
    ctx = env.ctx(recorder)
    candidates: list[Checkpoint] = []
    last_due = 0
    for item in log.journal:
        due = fire_timers(ctx, state, item.at)
        last_due = max(last_due, due or 0)
        apply(ctx, state, item.event, item.at, item.clock_flag)
        _candidate(candidates, item.key, state)
    due = fire_timers(ctx, state, log.timers_at)
    log.head, log.candidates, log.last_timer_due = state, candidates, max(last_due, due or 0)
    log.stale = False


def _candidate(candidates: list[Checkpoint], key: Key, state: ConnectorState) -> None:
    """A free connector is a possible checkpoint; one per free stretch (the latest) is kept."""
    if state.session is not None:
        return
    snapshot = Checkpoint.of(key, state)
    if candidates and candidates[-1].opened == state.opened:
        candidates[-1] = snapshot
    else:
        candidates.append(snapshot)


def _compact(log: ConnectorLog, policy: Policy, frontier: int) -> None:
    horizon = frontier - policy.correction_window_ms
    if not log.candidates or log.candidates[0].key[0] > horizon:
        return
    # The checkpoint stays before the last closed session: its stop may still come.
    last_closed_seq = log.head.opened - (2 if log.head.session is not None else 1)
    best = None
    for c in log.candidates:
        if c.key[0] > horizon:
            break
        if c.opened <= last_closed_seq:
            best = c
    if best is None:
        return
    log.base = best
    log.journal.drop_through(best.key)
    log.candidates = [c for c in log.candidates if c.key > best.key]
    log.ledger.forget_before(best.opened)
