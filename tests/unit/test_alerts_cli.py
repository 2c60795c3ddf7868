"""What ops see of an alert in a terminal: filters, and lines a hostile station cannot style or steer."""

from __future__ import annotations

from rich.console import Console

from chargestream.alerts import AlertFilter, line

ALERT = {
    "alert_id": "0c5e1f3a-aaaa",
    "type": "station_offline",
    "status": "opened",
    "severity": "critical",
    "station_id": "ST-1",
    "site_id": "S1",
    "connector_id": None,
    "updated_at": 1_800_000_000_000,
    "version": 2,
    "parent_id": "9fc8e6b0-bbbb",
    "summary": "ST-1 offline for 5 min (connection lost)",
}


def test_filters_hold_together() -> None:
    assert AlertFilter().matches(ALERT)
    assert AlertFilter(types=frozenset({"station_offline"}), site="S1").matches(ALERT)
    assert not AlertFilter(types=frozenset({"site_outage"})).matches(ALERT)
    assert not AlertFilter(site="S2").matches(ALERT)
    assert not AlertFilter(severities=frozenset({"info"})).matches(ALERT)
    assert not AlertFilter(folded=False).matches(ALERT)  # --incidents-only hides folded members
    assert AlertFilter(folded=False).matches({**ALERT, "parent_id": None})


def test_a_line_says_when_what_where_and_which_incident() -> None:
    console = Console(record=True, width=300, color_system=None)
    console.print(line(ALERT), highlight=False)
    text = console.export_text()
    assert "2027-01-15 08:00" in text and "critical" in text and "station_offline" in text
    assert "ST-1" in text and "connection lost" in text and "(in 9fc8e6b0)" in text and "v2" in text


def test_what_a_station_sent_can_neither_style_nor_steer_the_terminal() -> None:
    hostile = {
        **ALERT,
        "station_id": "[bold red]X[/]",
        "summary": "ok\x1b[2J\x1b]0;pwned\x07 [link=http://x]y[/link]",
    }
    console = Console(record=True, width=300, color_system=None)
    console.print(line(hostile), highlight=False)
    text = console.export_text()
    assert "[bold red]X[/]" in text and "[link=http://x]" in text  # shown as typed, not applied
    assert "\x1b" not in text and "\x07" not in text
