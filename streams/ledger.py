"""What one connector has sent: the versions of its session records and idle alerts. Pure.

The state machine says what a session or an alert *is*; the ledger decides what to *send* so that
consumers see a consistent history whatever happened in between:

* every record of a session or an alert gets the next version (ReplacingMergeTree keeps the newest);
* a bill equal to the one already sent is not sent again; a different one follows a credit of the
  old one (never a silent overwrite, DOMAIN.md pitfall 14), and carries the ``corrected`` flag;
* a session that turns out not to exist (a re-derived history split it differently) is voided: a
  credit of its bill, then a lifecycle record in state ``void``;
* an idle alert never goes back in its lifecycle; one that no longer exists is resolved.

`Live` sends through the ledger as events are applied in order; `Collector` only gathers what a
re-derivation of the history says, and `reconcile` brings the ledger in line with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from schemas.records import Alert, SessionRecord
from streams.compact import fields_reduce

VOID: Final = "void"
_ALERT_ORDER: Final = {"pending": 0, "opened": 1, "escalated": 2, "resolved": 3}


class Recorder(Protocol):
    """Where the state machine puts the records it derives (``seq``: the session's ordinal)."""

    def session(self, rec: SessionRecord, seq: int) -> None: ...

    def alert(self, rec: Alert, seq: int) -> None: ...


@dataclass(slots=True)
class Outbox:
    """Records to publish, in order."""

    sessions: list[SessionRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


@dataclass(slots=True)
class SentSession:
    __reduce__ = fields_reduce

    seq: int
    version: int = 0
    last: SessionRecord | None = None  # the newest record sent
    bill: SessionRecord | None = None  # the bill in force (sent and not credited)
    corrected: bool = False


@dataclass(slots=True)
class SentAlert:
    __reduce__ = fields_reduce

    seq: int
    last: Alert
    version: int = 0
    status: str = "pending"


@dataclass(slots=True)
class Ledger:
    __reduce__ = fields_reduce

    sessions: dict[str, SentSession] = field(default_factory=dict)
    alerts: dict[str, SentAlert] = field(default_factory=dict)

    def send_session(self, rec: SessionRecord, seq: int, out: Outbox) -> None:
        sid = rec.session_id
        sent = self.sessions.get(sid)
        if sent is None:
            sent = self.sessions[sid] = SentSession(seq)
        if rec.record_type == "bill":
            if sent.bill is not None and rec.bill_key() == sent.bill.bill_key():
                return
            if sent.bill is not None:
                self._credit(sent, rec.emitted_at, out)
            if sent.corrected:
                rec = replace(rec, quality_flags=tuple(sorted({*rec.quality_flags, "corrected"})))
            sent.bill = self._emit(sent, rec, out)
            return
        if sent.bill is not None:  # billed, but the session goes on after all: the bill is withdrawn
            self._credit(sent, rec.emitted_at, out)
        elif sent.last is not None and (sent.last.state, sent.last.energy_wh) == (rec.state, rec.energy_wh):
            return
        self._emit(sent, rec, out)

    def void_session(self, sid: str, at: int, out: Outbox) -> None:
        sent = self.sessions[sid]
        if sent.last is None or sent.last.state == VOID:
            return
        if sent.bill is not None:
            self._credit(sent, at, out)
        rec = replace(
            sent.last,
            record_type="update",
            state=VOID,
            is_final=False,
            energy_wh=0,
            emitted_at=at,
            corrects_version=None,
        )
        self._emit(sent, rec, out)

    def _credit(self, sent: SentSession, at: int, out: Outbox) -> None:
        assert sent.bill is not None
        sent.version += 1
        out.sessions.append(sent.bill.credit(sent.version, at))
        sent.bill, sent.corrected = None, True

    @staticmethod
    def _emit(sent: SentSession, rec: SessionRecord, out: Outbox) -> SessionRecord:
        sent.version += 1
        rec = replace(rec, version=sent.version)
        sent.last = rec
        out.sessions.append(rec)
        return rec

    def send_alert(self, rec: Alert, seq: int, out: Outbox) -> None:
        aid = rec.alert_id
        sent = self.alerts.get(aid)
        if sent is None:
            sent = self.alerts[aid] = SentAlert(seq, rec)
        if _ALERT_ORDER[rec.status] <= _ALERT_ORDER[sent.status]:
            return  # an alert never goes back (a re-derivation repeats what was sent)
        sent.version += 1
        sent.status, sent.last = rec.status, replace(rec, version=sent.version)
        out.alerts.append(sent.last)

    def withdraw_alert(self, aid: str, at: int, out: Outbox) -> None:
        sent = self.alerts[aid]
        if sent.status in ("pending", "resolved"):
            return
        rec = replace(
            sent.last,
            status="resolved",
            severity="info",
            updated_at=at,
            resolved_at=at,
            details={**sent.last.details, "withdrawn": True},
        )
        self.send_alert(rec, sent.seq, out)

    def forget_before(self, seq: int) -> None:
        """Sessions (and their alerts) before ordinal ``seq`` are final: nothing can change them."""
        self.sessions = {k: v for k, v in self.sessions.items() if v.seq >= seq}
        self.alerts = {k: v for k, v in self.alerts.items() if v.seq >= seq}


@dataclass(slots=True)
class Live:
    """Records go out as they are derived, through the ledger."""

    ledger: Ledger
    out: Outbox

    def session(self, rec: SessionRecord, seq: int) -> None:
        self.ledger.send_session(rec, seq, self.out)

    def alert(self, rec: Alert, seq: int) -> None:
        self.ledger.send_alert(rec, seq, self.out)


@dataclass(slots=True)
class Collector:
    """What a re-derivation says: each session's latest record, each alert's transitions."""

    sessions: dict[str, tuple[SessionRecord, int]] = field(default_factory=dict)
    alerts: dict[str, list[tuple[Alert, int]]] = field(default_factory=dict)

    def session(self, rec: SessionRecord, seq: int) -> None:
        self.sessions[rec.session_id] = (rec, seq)

    def alert(self, rec: Alert, seq: int) -> None:
        self.alerts.setdefault(rec.alert_id, []).append((rec, seq))


@dataclass(slots=True)
class Discard:
    """A re-derivation whose records are not needed (only its end state is)."""

    def session(self, rec: SessionRecord, seq: int) -> None:
        pass

    def alert(self, rec: Alert, seq: int) -> None:
        pass


def reconcile(ledger: Ledger, derived: Collector, at: int, out: Outbox) -> None:
    """Send what makes the ledger agree with a re-derived history (nothing when they agree)."""
    for rec, seq in derived.sessions.values():
        ledger.send_session(rec, seq, out)
    for sid in [s for s in ledger.sessions if s not in derived.sessions]:
        ledger.void_session(sid, at, out)
    for transitions in derived.alerts.values():
        for alert, aseq in transitions:
            ledger.send_alert(alert, aseq, out)
    for aid in [a for a in ledger.alerts if a not in derived.alerts]:
        ledger.withdraw_alert(aid, at, out)
