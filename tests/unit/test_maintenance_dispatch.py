"""The maintenance stage's rules: failure reports → one technician dispatch with the context a
technician needs; idle-car reports join the idle alert; news in any order gives the same dispatches."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as hs

from schemas.records import Alert, Feedback, Resolution, SessionRecord
from streams.faults.rules import FaultRules
from streams.maintenance import PortStatus, StationTime
from streams.maintenance.stage import Maintenance

T0 = 1_800_000_000_000
MIN = 60_000
HOUR = 60 * MIN
RULES = FaultRules()


def report(n: int, minute: float, category: str = "cannot-start", connector: int | None = 1) -> Feedback:
    at = T0 + round(minute * MIN)
    return Feedback(
        feedback_id=f"fb{n}",
        station_id="ST",
        category=category,
        submitted_at=at,
        received_at=at + 5_000,
        connector_id=connector,
        rating=1,
        comment=f"report {n}",
    )


def fault(
    minute: float, until: float | None = None, kind: str = "connector_fault", connector: int = 1
) -> list[Alert]:
    opened = T0 + round(minute * MIN)
    a = Alert(
        alert_id=f"{kind}-{minute}",
        type=kind,
        status="opened",
        opened_at=opened,
        updated_at=opened,
        severity="warning",
        version=1,
        station_id="ST",
        connector_id=connector,
        site_id="SITE",
        summary=f"{kind} on {connector}",
    )
    if until is None:
        return [a]
    end = T0 + round(until * MIN)
    return [a, replace(a, status="resolved", updated_at=end, resolved_at=end, version=2)]


def session(n: int, minute: float, wh: int, connector: int = 1, minutes: float = 30) -> SessionRecord:
    at = T0 + round(minute * MIN)
    return SessionRecord(
        session_id=f"s{n}",
        station_id="ST",
        connector_id=connector,
        plugged_in_at=at,
        emitted_at=at + round(minutes * MIN),
        state="completed",
        record_type="bill",
        is_final=True,
        unplugged_at=at + round(minutes * MIN),
        energy_wh=wh,
    )


def idle_alert(version: int, status: str, since_min: float, at_min: float) -> Alert:
    return Alert(
        alert_id="idle-1",
        type="idle",
        status=status,
        opened_at=T0 + round((since_min + 30) * MIN),
        updated_at=T0 + round(at_min * MIN),
        severity="warning",
        version=version,
        station_id="ST",
        connector_id=2,
        site_id="SITE",
        resolved_at=T0 + round(at_min * MIN) if status == "resolved" else None,
        summary="ST connector 2: car still plugged in",
        details={"idle_since": T0 + round(since_min * MIN)},
    )


News = Feedback | Alert | SessionRecord | Resolution | StationTime


def clock(minute: float) -> StationTime:
    """The station engine's time reaching ``minute``."""
    return StationTime("ST", T0 + round(minute * MIN))


def feed(items: list[News], m: Maintenance | None = None) -> tuple[Maintenance, list[Alert]]:
    m = m or Maintenance(lambda _site: RULES)
    out: list[Alert] = []
    for item in items:
        if isinstance(item, Feedback):
            out += m.feedback(item)
        elif isinstance(item, Alert):
            out += m.alert(item)
        elif isinstance(item, SessionRecord):
            out += m.session(item)
        elif isinstance(item, StationTime):
            out += m.time(item)
        else:
            out += m.resolution(item)
    return m, out


def dispatches(out: list[Alert]) -> list[Alert]:
    return [a for a in out if a.type == "maintenance_dispatch"]


def final(out: list[Alert]) -> dict[str, tuple[Any, ...]]:
    newest: dict[str, Alert] = {}
    for a in out:
        if a.alert_id not in newest or a.version > newest[a.alert_id].version:
            newest[a.alert_id] = a
    return {k: (a.type, a.status, a.opened_at, a.resolved_at) for k, a in newest.items()}


def test_three_failure_reports_within_a_day_dispatch_once_and_a_good_session_resolves() -> None:
    m, out = feed([session(0, -120, 9000), report(1, 0), report(2, 60, "broken-cable"), session(1, 100, 0)])
    assert dispatches(out) == []
    m.status(PortStatus("ST", 1, "Faulted", T0 + 110 * MIN))
    m.status(PortStatus("ST", 1, "Available", T0 + 50 * MIN))  # older: the newer status stays
    _, more = feed([report(3, 120, connector=None)], m)
    (d,) = dispatches(more)
    assert (d.status, d.version, d.opened_at, d.severity) == ("opened", 1, T0 + 120 * MIN, "critical")
    assert d.details["reason"] == "3 failure reports within 24 h"
    assert [r["feedback_id"] for r in d.details["reports"]] == ["fb1", "fb2", "fb3"]
    assert d.details["connectors"] == [{"connector_id": 1, "status": "Faulted", "since": T0 + 110 * MIN}]
    assert d.details["last_successful_session"]["session_id"] == "s0"
    assert d.details["last_successful_session"]["kwh"] == 9.0
    assert [s["session_id"] for s in d.details["failed_sessions_since"]] == ["s1"]
    assert d.details["priority"] == "P1"  # its only connector is Faulted
    assert "send a technician" in d.summary and "cannot-start ×2" in d.summary
    _, later = feed([report(4, 130, "slow"), report(4, 130, "slow"), session(2, 140, 5000)], m)
    assert [(a.status, a.version) for a in later] == [("updated", 2), ("resolved", 3)]
    assert later[0].details["report_count"] == 4
    assert later[1].resolved_at == T0 + 170 * MIN and later[1].details["resolved_by"] == "session"


def test_reports_more_than_a_day_apart_or_other_categories_dispatch_nobody() -> None:
    _, out = feed([report(1, 0), report(2, 25 * 60), report(3, 50 * 60), report(4, 51 * 60, "other")])
    assert dispatches(out) == []


def test_one_report_meets_an_open_fault_in_either_order() -> None:
    alert = fault(10)
    _, waiting = feed([*alert, report(1, 20)])
    assert waiting == []  # the engine has not told of minute 20 yet: what it says next may matter
    _, a_first = feed([*alert, report(1, 20), clock(30)])
    _, r_first = feed([report(1, 20), *alert, clock(30)])
    assert final(a_first) == final(r_first)
    (d,) = dispatches(a_first)
    assert d.opened_at == T0 + 20 * MIN
    assert d.details["reason"] == "a driver reported cannot-start while connector_fault was open"
    assert [a["alert_id"] for a in d.details["open_alerts"]] == ["connector_fault-10"]
    assert d.details["priority"] == "P2" and d.details["connectors_reported"] == [1]


def test_a_report_after_the_fault_was_resolved_dispatches_nobody() -> None:
    _, out = feed([*fault(10, until=15), report(1, 20)])
    assert dispatches(out) == []


def test_a_good_session_on_another_connector_does_not_resolve() -> None:
    m, out = feed([*fault(10, connector=2), report(1, 20, connector=2), session(1, 30, 4000, connector=1)])
    assert [a.status for a in dispatches(out)] == ["opened"]
    _, more = feed([session(2, 40, 4000, connector=2)], m)
    assert [a.status for a in dispatches(more)] == ["resolved"]


def test_the_cure_already_known_opens_and_resolves_at_once() -> None:
    # the driver's phone was offline: the reports arrive after the session that proved the fix
    _, out = feed([*fault(10), session(1, 60, 3000), report(1, 20)])
    assert [(a.status, a.version) for a in dispatches(out)] == [("opened", 1), ("resolved", 2)]


def test_ops_resolve_by_hand_then_new_reports_open_a_new_dispatch() -> None:
    m, out = feed([*fault(10), report(1, 20), clock(25)])
    (d,) = dispatches(out)
    res = Resolution(d.alert_id, "ST", T0 + 40 * MIN, note="cable replaced", by="kim")
    _, done = feed([res, res], m)
    assert [(a.status, a.details["note"], a.details["resolved_by"]) for a in done] == [
        ("resolved", "cable replaced", "kim")
    ]
    assert "resolved by kim: cable replaced" in done[0].summary
    _, again = feed([report(2, 30), clock(35)], m)  # made before ops resolved it: joins that dispatch
    assert [(a.alert_id, a.status, a.version, a.details["report_count"]) for a in again] == [
        (d.alert_id, "resolved", 3, 2)
    ]
    _, new = feed([report(3, 50), clock(55)], m)
    (d2,) = dispatches(new)
    assert d2.alert_id != d.alert_id and d2.status == "opened"


def test_idle_car_reports_join_the_idle_alert_and_dispatch_nobody() -> None:
    blocked = report(1, 5, "blocked-by-idle-car", connector=2)
    opened = idle_alert(1, "opened", 0, 30)
    resolved = idle_alert(2, "resolved", 0, 50)
    m, out = feed([blocked, opened])  # the report came before the alert opened
    assert dispatches(out) == []
    assert [(a.version, a.details["report_count"]) for a in out] == [(1, 1)]
    assert "1 driver found the connector blocked" in out[0].summary
    # a report the engine's time has not reached waits: the car may be gone by then
    _, more = feed([report(2, 40, "blocked-by-idle-car", connector=None), opened], m)
    assert more == []
    _, more = feed([resolved], m)
    assert [(a.status, a.version, a.details["report_count"]) for a in more] == [("resolved", 2, 2)]
    _, none = feed([report(3, 90, "blocked-by-idle-car", connector=2)], m)  # after the car left
    assert none == []


def test_idle_alerts_without_reports_pass_unchanged() -> None:
    opened = idle_alert(1, "opened", 0, 30)
    _, out = feed([opened, opened])
    assert out == [opened]


@settings(max_examples=150, deadline=None)
@given(hs.randoms(use_true_random=False), hs.integers(0, 3))
def test_news_in_any_order_and_repeated_gives_the_same_dispatches(rnd: Any, scenario: int) -> None:
    scenarios: list[list[News]] = [
        [*fault(10, until=200), report(1, 20), report(2, 25), clock(30), session(1, 300, 5000)],
        [report(1, 0), report(2, 30), report(3, 60), session(1, 70, 0), session(2, 90, 4000)],
        [*fault(0, until=60, kind="station_offline"), report(1, 30, connector=None), session(1, 80, 100)],
        [*fault(5, kind="start_failures"), report(1, 10), report(2, 12, "blocked-by-idle-car", 2), clock(15)],
    ]
    news = scenarios[scenario]
    _, expected = feed(news)
    shuffled = [*news, *rnd.sample(news, k=min(2, len(news)))]
    rnd.shuffle(shuffled)
    # What the engine sends for one alert or session arrives in its own order; feedback anywhere.
    _, got = feed(shuffled)
    assert final(got) == final(expected)
    assert len(dispatches(expected)) >= 1
