"""The station fault tracker: each rule opens one alert per incident, with a stable id, and resolves it."""

from __future__ import annotations

from schemas.events import (
    MINUTE_MS,
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    Payload,
    StatusChange,
)
from schemas.records import Alert, SessionRecord
from streams.faults import FaultCtx, FaultRules, StationFaults, advance, next_due, on_bills, on_event

T0 = 1_800_000_000_000
RULES = FaultRules()


class Tracker:
    def __init__(self, rules: FaultRules = RULES) -> None:
        self.state = StationFaults()
        self.alerts: list[Alert] = []
        self.ctx = FaultCtx("ST", "SITE", rules, self.alerts)
        self.n = 0

    def ev(self, minute: float, payload: Payload, connector: int = 1, evse: int | None = None) -> None:
        self.n += 1
        at = T0 + round(minute * MINUTE_MS)
        ev = ChargerEvent(f"e{self.n}", "ST", connector, at, at, "test", payload, evse_id=evse)
        on_event(self.state, ev, (at, 0, f"{self.n:06d}"), self.ctx)

    def bill(self, minute: float, energy_wh: int, connector: int = 1) -> None:
        at = T0 + round(minute * MINUTE_MS)
        rec = SessionRecord(
            f"s{minute}",
            "ST",
            connector,
            at,
            at + MINUTE_MS,
            "closed",
            record_type="bill",
            is_final=True,
            energy_wh=energy_wh,
        )
        on_bills(self.state, [rec], self.ctx)

    def at(self, minute: float) -> None:
        advance(self.state, T0 + round(minute * MINUTE_MS), self.ctx)

    def of(self, kind: str) -> list[tuple[str, int]]:
        return [(a.status, a.version) for a in self.alerts if a.type == kind]


def test_a_faulted_connector_is_one_alert_from_opened_to_resolved() -> None:
    t = Tracker()
    t.ev(0, StatusChange("Available"))
    t.ev(5, StatusChange("Faulted", "GroundFailure", "CX002"))
    t.ev(6, StatusChange("Faulted", "GroundFailure"))  # repeated: no second alert
    t.ev(45, StatusChange("Available"))
    assert t.of("connector_fault") == [("opened", 1), ("resolved", 2)]
    opened, resolved = t.alerts
    assert opened.alert_id == resolved.alert_id and opened.connector_id == 1
    assert opened.details["chargex_code"] == "CX002" and "ground fault" in opened.details["chargex_name"]
    assert resolved.resolved_at == T0 + 45 * MINUTE_MS and resolved.details["fault_minutes"] == 40
    assert opened.summary == "ST connector 1 is Faulted (CX002)"


def test_an_error_code_without_faulted_is_a_warning_not_an_alert() -> None:
    t = Tracker()
    t.ev(0, StatusChange("Preparing", "EVCommunicationError"))
    t.ev(1, StatusChange("Charging", "HighTemperature"))
    assert t.alerts == []


def test_connector_zero_faulted_is_one_station_fault_over_every_connector() -> None:
    t = Tracker()
    for c in (1, 2, 3):
        t.ev(0, StatusChange("Available"), connector=c)
    t.ev(1, StatusChange("Faulted", "InternalError"), connector=2)
    t.ev(2, StatusChange("Faulted", "PowerSwitchFailure"), connector=0)
    for c in (1, 3):
        t.ev(2, StatusChange("Faulted", "PowerSwitchFailure"), connector=c)
    t.ev(30, StatusChange("Available"), connector=0)
    kinds = [(a.type, a.status) for a in t.alerts]
    assert kinds == [
        ("connector_fault", "opened"),
        ("connector_fault", "resolved"),  # folded into the station fault
        ("station_fault", "opened"),
        ("station_fault", "resolved"),
        ("connector_fault", "opened"),  # 1, 2, 3 are still Faulted on their own
        ("connector_fault", "opened"),
        ("connector_fault", "opened"),
    ]
    station = t.alerts[2]
    assert station.connector_id is None and [m["connector_id"] for m in station.members] == [1, 2, 3]


def test_a_flapping_connector_gets_one_flapping_alert_instead_of_more_faults() -> None:
    t = Tracker()
    for k in range(6):  # Faulted for 2 minutes every 10 minutes
        t.ev(10 * k, StatusChange("Faulted", "ConnectorLockFailure"))
        t.ev(10 * k + 2, StatusChange("Available"))
    assert [a.status for a in t.alerts if a.type == "connector_fault"] == ["opened", "resolved"] * 3
    assert t.of("flapping") == [("opened", 1)]
    t.at(50 + 59)
    assert t.of("flapping") == [("opened", 1)]
    t.at(50 + 60)
    assert t.of("flapping") == [("opened", 1), ("resolved", 2)]
    flapping = [a for a in t.alerts if a.type == "flapping"]
    assert flapping[0].opened_at == T0 and flapping[1].resolved_at == T0 + 110 * MINUTE_MS
    assert flapping[1].details["faults"] == 6


def test_sessions_that_deliver_nothing_raise_start_failures_until_one_delivers() -> None:
    t = Tracker()
    t.bill(0, 12_000)
    for k in range(1, 4):
        t.bill(10 * k, 0)
    assert t.of("start_failures") == [("opened", 1)]
    t.bill(40, 0)
    t.bill(50, 8_000)
    assert t.of("start_failures") == [("opened", 1), ("updated", 2), ("resolved", 3)]
    opened = next(a for a in t.alerts if a.type == "start_failures")
    assert opened.opened_at == T0 + 10 * MINUTE_MS and opened.details["failed_sessions"] == 3


def test_a_lost_connection_past_the_grace_period_is_offline_until_the_reconnect() -> None:
    t = Tracker()
    t.ev(0, Heartbeat(), connector=0)
    t.ev(1, ConnectionChange(False), connector=0)
    t.at(5.9)
    assert t.alerts == []
    t.at(6)
    t.ev(20, StatusChange("Available"))  # queued from the outage, sent before the reconnect was seen
    assert t.of("station_offline") == [("opened", 1)]
    t.ev(30, ConnectionChange(True), connector=0)
    assert t.of("station_offline") == [("opened", 1), ("resolved", 2)]
    assert t.alerts[-1].resolved_at == T0 + 30 * MINUTE_MS and t.alerts[0].opened_at == T0 + MINUTE_MS


def test_an_outage_longer_than_three_heartbeats_is_one_offline_alert() -> None:
    t = Tracker()
    t.ev(-5, Heartbeat(), connector=0)
    t.ev(0, Heartbeat(), connector=0)
    t.ev(1, ConnectionChange(False), connector=0)
    t.ev(60, ConnectionChange(True), connector=0)  # gone for 12 heartbeat intervals
    t.ev(61, Heartbeat(), connector=0)
    t.at(70)
    assert t.of("station_offline") == [("opened", 1), ("resolved", 2)]
    assert t.alerts[0].details["reason"] == "connection lost"


def test_a_blip_within_the_grace_period_is_no_alert() -> None:
    t = Tracker()
    t.ev(0, ConnectionChange(False), connector=0)
    t.ev(3, ConnectionChange(True), connector=0)
    t.ev(4, Heartbeat(), connector=0)
    t.at(10)
    assert t.of("station_offline") == []


def test_a_silent_station_is_offline_after_three_heartbeat_intervals() -> None:
    t = Tracker()
    t.ev(-5, Heartbeat(), connector=0)
    t.ev(0, Heartbeat(), connector=0)
    t.at(14.9)
    assert t.alerts == []
    t.at(15)
    t.ev(40, Heartbeat(), connector=0)
    assert t.of("station_offline") == [("opened", 1), ("resolved", 2)]
    assert t.alerts[0].details["reason"] == "silent"


def test_a_201_problem_notice_faults_the_evse_until_it_is_cleared() -> None:
    t = Tracker()
    t.ev(
        0,
        FaultNotice("ConnectorPlugRetentionLock", "Problem", actual_value="true", tech_code="CX001"),
        connector=0,
        evse=2,
    )
    t.ev(
        1,
        FaultNotice("ConnectorPlugRetentionLock", "Problem", actual_value="false", cleared=True),
        connector=0,
        evse=2,
    )
    assert t.of("connector_fault") == [("opened", 1), ("resolved", 2)]
    assert t.alerts[0].connector_id == 2 and t.alerts[0].details["chargex_code"] == "CX001"


def test_a_status_older_than_the_last_changes_no_fault() -> None:
    t = Tracker()
    t.ev(10, StatusChange("Available"))
    t.ev(5, StatusChange("Faulted", "GroundFailure"))
    assert t.alerts == []


def test_a_station_with_hourly_heartbeats_is_not_silent_between_them() -> None:
    t = Tracker()
    for hour in range(4):
        t.ev(60 * hour, Heartbeat(), connector=0)
    t.at(3 * 60 + 59)
    assert t.alerts == []
    assert next_due(t.state, RULES) == T0 + (3 * 60 + 3 * 60) * MINUTE_MS  # 3 missed hourly heartbeats
    t.at(6 * 60)
    assert t.of("station_offline") == [("opened", 1)]


def test_a_station_whose_interval_is_unknown_is_never_silent() -> None:
    t = Tracker()
    t.ev(0, StatusChange("Available"))
    t.at(24 * 60)
    assert t.alerts == [] and next_due(t.state, RULES) is None


def test_next_due_names_the_timer_a_clock_marker_must_reach() -> None:
    t = Tracker()
    t.ev(0, ConnectionChange(False), connector=0)
    assert next_due(t.state, RULES) == T0 + 5 * MINUTE_MS
    t.at(5)
    assert next_due(t.state, RULES) is None  # offline is open: nothing more to time


def test_a_clock_marker_opens_offline_for_a_silent_station_and_does_not_end_it() -> None:
    from streams.policy import Policy
    from streams.station import CLOCK_SOURCE, StationState, process

    policy, state = Policy(), StationState("ST")
    beats = [
        ChargerEvent(f"hb{k}", "ST", 0, T0 + k * 5 * MINUTE_MS, T0 + k * 5 * MINUTE_MS, "test", Heartbeat())
        for k in (-1, 0)
    ]
    alerts = [a for ev in beats for a in process(state, ev, policy).alerts]
    for minute in (10, 20):
        at = T0 + minute * MINUTE_MS
        marker = ChargerEvent(f"clock-{minute}", "ST", 0, at, at, CLOCK_SOURCE, Heartbeat())
        alerts += process(state, marker, policy).alerts
    assert [(a.type, a.status, a.opened_at) for a in alerts] == [("station_offline", "opened", T0)]
    assert alerts[0].updated_at == T0 + 15 * MINUTE_MS  # the timer's due time, not the marker's
