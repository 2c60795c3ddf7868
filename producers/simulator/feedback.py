"""Driver feedback (the `driver.feedback` topic), following from what drivers met. Pure.

Reports are correlated with what happened: drivers who arrive during an incident report that they
cannot start (or a broken cable, for cable-like error codes); drivers who find no free connector
while an idle car occupies one report it; slow sessions and background noise (payment, other).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, fields

from producers.simulator.identity import keyed_hash, user_ref
from producers.simulator.incidents import CABLE_CODES
from producers.simulator.schedule import PlannedSession, Visit
from producers.simulator.truth import TrueFeedback
from schemas.events import MINUTE_MS
from schemas.records import Feedback

FEEDBACK_NS = uuid.UUID("7d0f3a52-0c4e-4f41-9e55-66656564626b")
SLOW_SHARE = 0.35  # at a fast charger, a car taking under this share of its rating feels slow
COMMENTS = {
    "cannot-start": "Charging would not start.",
    "broken-cable": "The cable or connector looks broken.",
    "blocked-by-idle-car": "A fully charged car is blocking the charger.",
    "slow": "Charging was much slower than advertised.",
    "payment": "I was charged twice / the payment failed.",
    "other": "Something else was wrong.",
}


@dataclass(frozen=True)
class FeedbackRates:
    incident_report: float = 0.3  # a driver arriving during an incident reports it
    idle_report: float = 0.3  # a driver who found no connector while an idle car took one
    slow_report: float = 0.1  # per slow session
    payment: float = 0.004  # per session
    other: float = 0.002  # per session

    @classmethod
    def none(cls) -> FeedbackRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


@dataclass(frozen=True)
class FeedbackReport:
    """One driver report: the `driver.feedback` record and its ground truth."""

    record: Feedback
    truth: TrueFeedback
    user_ref: str  # the raw driver reference (POST /feedback hashes it like this record's)

    @property
    def station_id(self) -> str:
        return self.truth.station_id

    @property
    def received_at(self) -> int:
        return self.record.received_at


def station_feedback(
    station_id: str,
    station_kw: float,
    dc: bool,
    sessions: list[PlannedSession],
    visits: list[Visit],
    rates: FeedbackRates,
    seed: int,
) -> list[FeedbackReport]:
    rng = random.Random(f"feedback|{seed}|{station_id}")
    out: list[FeedbackReport] = []

    def report(
        at: int,
        user: int,
        category: str,
        connector: int | None,
        rating: int,
        cause: str,
        incident_id: str | None = None,
        session: PlannedSession | None = None,
    ) -> None:
        fid = str(uuid.uuid5(FEEDBACK_NS, f"{seed}|{station_id}|{len(out)}"))
        received = at + rng.randint(1, 30) * 1000
        record = Feedback(
            feedback_id=fid,
            station_id=station_id,
            connector_id=connector,
            rating=rating,
            category=category,
            comment=COMMENTS[category],
            user_ref_hash=keyed_hash(user_ref(seed, user)),
            submitted_at=at,
            received_at=received,
        )
        truth = TrueFeedback(
            fid,
            station_id,
            connector,
            category,
            at,
            cause,
            incident_id,
            session.plugged_in_at if session else None,
        )
        out.append(FeedbackReport(record, truth, user_ref(seed, user)))

    for v in visits:
        if v.blocked_by and rng.random() < rates.incident_report:
            b = rng.choice(v.blocked_by)
            code = b.incident.error_code
            category = "broken-cable" if code in CABLE_CODES and rng.random() < 0.5 else "cannot-start"
            member = next(m for m in b.incident.members if m.station_id == station_id)
            connector = member.connector_id or None
            at = v.at + rng.randint(1, 15) * MINUTE_MS
            report(at, v.user, category, connector, 1, "incident", incident_id=b.incident.incident_id)
        elif v.connector_id is None and v.idle_blocker is not None and rng.random() < rates.idle_report:
            s = v.idle_blocker
            at = v.at + rng.randint(1, 10) * MINUTE_MS
            report(
                at, v.user, "blocked-by-idle-car", s.connector_id, rng.randint(1, 2), "idle_car", session=s
            )
    for s in sessions:
        after = s.unplugged_at + rng.randint(1, 60) * MINUTE_MS
        r = rng.random()
        if r < rates.payment:
            report(after, s.user, "payment", s.connector_id, rng.randint(1, 3), "noise", session=s)
        elif r < rates.payment + rates.other:
            report(after, s.user, "other", s.connector_id, rng.randint(2, 4), "noise", session=s)
        slow = dc and s.curve is not None and s.demand.vehicle_peak_kw < SLOW_SHARE * station_kw
        if slow and rng.random() < rates.slow_report:
            report(after, s.user, "slow", s.connector_id, rng.randint(2, 3), "slow_session", session=s)
    out.sort(key=lambda f: (f.truth.submitted_at, f.truth.feedback_id))
    return out
