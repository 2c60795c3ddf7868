"""The calibration constants are what `producers.simulator.calibrate` computes from the datasets."""

from __future__ import annotations

import pytest

from producers.simulator import calibration as cal
from producers.simulator.calibrate import acn, datasets_dir, dundee

DATASETS = datasets_dir()


@pytest.fixture(scope="module", autouse=True)
def _datasets_present() -> None:
    assert (DATASETS / "acn_caltech_sessions.json").is_file(), (
        f"{DATASETS} is missing: clone beside shared/ or set CHARGESTREAM_SHARED_DIR"
    )


def test_acn_constants_match_the_file() -> None:
    a = acn(DATASETS / "acn_caltech_sessions.json")
    assert (a.idle_share_all, a.idle_share, a.idle_30min_share) == (
        cal.ACN_IDLE_SHARE_ALL,
        cal.ACN_IDLE_SHARE,
        cal.ACN_IDLE_30MIN_SHARE,
    )
    assert abs(a.idle_share_all - 0.57) < 0.01  # the datasets README: "ACN ≈ 57 %"
    assert (a.energy_median_kwh, a.plug_in_median_h) == (cal.ACN_ENERGY_MEDIAN_KWH, cal.ACN_PLUG_IN_MEDIAN_H)
    assert tuple(a.energy_kwh_q) == cal.ACN_ENERGY_KWH_Q
    assert tuple(a.power_kw_q) == cal.ACN_POWER_KW_Q
    assert tuple(a.idle_min_q) == cal.ACN_IDLE_MIN_Q
    assert tuple(map(tuple, a.correlation)) == cal.ACN_CORRELATION


def test_dundee_constants_match_the_file() -> None:
    figures = {f.kind: f for f in dundee(DATASETS / "dundee_sessions_2018.csv")}
    ac, dc = figures["AC"], figures["DC"]
    assert ac.sessions_per_connector_day == cal.DUNDEE_AC_SESSIONS_PER_CONNECTOR_DAY
    assert dc.sessions_per_connector_day == cal.DUNDEE_DC_SESSIONS_PER_CONNECTOR_DAY
    assert tuple(ac.arrivals_by_hour) == cal.DUNDEE_AC_ARRIVALS_BY_HOUR
    assert tuple(dc.arrivals_by_hour) == cal.DUNDEE_DC_ARRIVALS_BY_HOUR
    assert tuple(dc.energy_kwh_q) == cal.DUNDEE_DC_ENERGY_KWH_Q
    assert (dc.energy_median_kwh, dc.plug_in_median_min) == (
        cal.DUNDEE_DC_ENERGY_MEDIAN_KWH,
        cal.DUNDEE_DC_PLUG_IN_MEDIAN_MIN,
    )
