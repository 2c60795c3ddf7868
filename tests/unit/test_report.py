"""The report's page from canned query results: hostile ids stay text, currencies never mix, an empty
store is said to be empty, the progress bar's steps are the page's parts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from chargestream.cli import _redacted
from chargestream.report import queries as q
from chargestream.report import sections
from chargestream.report.build import STEPS, build, default_period
from chargestream.report.queries import Period

HOSTILE = '<script>alert(1)</script>$\\frac{x}$ "quoted"'
PERIOD = Period(date(2026, 11, 2), date(2026, 11, 9))
DAY_MS = 86_400_000
T0 = 1_793_577_600_000  # 2026-11-02 00:00 UTC


def _canned(sql: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    rows: dict[str, list[dict[str, Any]]] = {
        q.BOUNDS: [{"first_day": "2026-11-02", "last_day": "2026-11-08", "n": "12"}],
        q.HEADLINE: [{"sessions": "12", "energy_wh": "123456", "stations": 2, "sites": 2, "with_idle": 5}],
        q.SUCCESS: [{"attempts": 12, "successes": 9}],
        q.DISPATCHES: [{"raised": 1, "resolved": 0}],
        q.PEAK_HOURS: [
            {"site": HOSTILE, "weekday": 1, "hour": 8, "sessions": 3},
            {"site": "SITE-B", "weekday": 7, "hour": 23, "sessions": 2},
        ],
        q.ENERGY_PER_DAY: [
            {"day": "2026-11-02", "site": HOSTILE, "wh": "50000"},
            {"day": "2026-11-03", "site": "SITE-B", "wh": "73456"},
        ],
        q.DURATIONS: [{"bin": 2, "sessions": 10}, {"bin": 48, "sessions": 2}],
        q.DURATION_QUANTILES: [{"q": [40.0, 700.0]}],
        q.SPEEDS: [
            {"power_class": "AC up to 22 kW", "kw_from": 7, "kw_width": 1, "sessions": 8},
            {"power_class": "50-150 kW", "kw_from": 40, "kw_width": 10, "sessions": 4},
        ],
        q.IDLE: [{"bin": 1, "sessions": 4}, {"bin": 36, "sessions": 1}],
        q.OFFENDERS: [
            {
                "who": HOSTILE,
                "sessions": 2,
                "idle_total": 400.0,
                "idle_mean": 200.0,
                "idle_p90": 390.0,
                "fees": "40.0000",
                "money": "EUR",
            }
        ],
        q.UPTIME: [
            {"station": HOSTILE, "connector": 1, "outage_min": 600.0, "excluded_min": 100.0},
            {"station": "ST-2", "connector": 2, "outage_min": None, "excluded_min": None},
        ],
        q.FAULT_ALERTS: [
            {
                "id": "a1",
                "kind": "connector_fault",
                "level": "warning",
                "state": "resolved",
                "station": HOSTILE,
                "site": "SITE-B",
                "opened_ms": T0 + DAY_MS,
                "resolved_ms": T0 + DAY_MS + 3_600_000,
                "parent": None,
            },
            {
                "id": "a2",
                "kind": "site_outage",
                "level": "critical",
                "state": "opened",
                "station": "",
                "site": "SITE-B",
                "opened_ms": T0 + 2 * DAY_MS,
                "resolved_ms": None,
                "parent": "",
            },
        ],
        q.REVENUE: [
            {
                "site": HOSTILE,
                "money": "EUR",
                "n": 7,
                "wh": 60000,
                "energy": "20.0000",
                "time": "0.0000",
                "parking": "5.5000",
                "flat": "1.0000",
                "total": "26.5000",
                "total_incl_vat": "31.5350",
            },
            {
                "site": "SITE-B",
                "money": "EUR",
                "n": 3,
                "wh": 40000,
                "energy": "10.0000",
                "time": "2.0000",
                "parking": "0.0000",
                "flat": "0.0000",
                "total": "12.0000",
                "total_incl_vat": "14.2800",
            },
            {
                "site": "SITE-C",
                "money": "CHF",
                "n": 2,
                "wh": 23456,
                "energy": "9.0000",
                "time": "0.0000",
                "parking": "0.0000",
                "flat": "0.0000",
                "total": "9.0000",
                "total_incl_vat": "9.7290",
            },
        ],
    }
    return rows[sql]


def _empty(sql: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    one = {
        q.BOUNDS: {"first_day": "1970-01-01", "last_day": "1970-01-01", "n": "0"},
        q.HEADLINE: {"sessions": "0", "energy_wh": "0", "stations": 0, "sites": 0, "with_idle": 0},
        q.SUCCESS: {"attempts": 0, "successes": 0},
        q.DISPATCHES: {"raised": 0, "resolved": 0},
        q.DURATION_QUANTILES: {"q": []},
    }
    return [one[sql]] if sql in one else []


def test_ids_from_the_store_stay_text_in_the_page_and_in_the_plots() -> None:
    html = build(_canned, PERIOD, "chdb:///store")
    assert "<script" not in html and "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the tables and, escaped, in the SVG text
    assert html.count("<svg") == 7 and "No data in this period." not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_amounts_are_summed_per_currency_never_across() -> None:
    revenue = sections.revenue(_canned, PERIOD)
    totals = {r.currency: r for r in revenue.totals()}
    assert totals["EUR"].total == Decimal("38.5") and totals["EUR"].sessions == 10
    assert totals["CHF"].total == Decimal("9") and totals["CHF"].total_incl_vat == Decimal("9.7290")
    html = build(_canned, PERIOD, "chdb:///store")
    assert "38.50" in html and "9.73" in html


def test_the_last_bin_holds_everything_above_it() -> None:
    hist = sections.durations(_canned, PERIOD).histogram
    assert len(hist.counts) == q.DURATION_BINS + 1 and hist.counts[-1] == 2 and hist.total == 12
    assert sections.histogram([{"bin": 99, "sessions": 3}], 10, 36).counts[-1] == 3


def test_uptime_is_the_domain_formula_over_the_period_worst_first() -> None:
    up = sections.uptime(_canned, PERIOD)
    minutes = 7 * 1440
    assert up.ports[0].uptime_pct == (minutes - (600 - 100)) / minutes * 100
    assert up.ports[1].uptime_pct == 100 and up.below_target == 1  # 95.04 % < 97 %
    assert round(up.mean_pct or 0, 6) == round((up.ports[0].uptime_pct + 100) / 2, 6)


def test_an_empty_store_gives_a_page_that_says_so() -> None:
    period = default_period(_empty, today=date(2026, 12, 4))
    assert period == Period(date(2026, 12, 4), date(2026, 12, 5))
    html = build(_empty, period, "chdb:///store")
    assert html.count("No data in this period.") == 7 and "<svg" not in html


def test_the_progress_bar_has_one_step_per_part() -> None:
    seen: list[str] = []
    build(_canned, PERIOD, "x", seen.append)
    assert len(seen) == STEPS and len(set(seen)) == STEPS


def test_the_page_names_the_store_without_its_credentials() -> None:
    assert _redacted("http://analyst:s3cret@ch.example:8123/?x=1") == "http://ch.example:8123/?x=1"
    assert _redacted("chdb:///var/lib/chargestream/clickhouse") == "chdb:///var/lib/chargestream/clickhouse"
