"""Calibration constants of the fleet simulator, computed from the public datasets.

Every number marked "measured" is printed by `python -m producers.simulator.calibrate` from
`../shared/datasets/` (its README lists the files and their defects; the script drops the defects)
and checked against the files by tests/unit/test_simulator_calibration.py. Numbers marked
"assumption" have no source in those files.

AC sessions (destination charging) take their shape from ACN-Data Caltech: energy, effective
charging power and idle time after charging is done, as quantile tables (`QUANTILE_LEVELS`, in
percent) joined by a Gaussian copula (correlation of the normal scores). Plug-in time is then
charging time + idle, so the idle share of plugged-in time comes out as measured. Arrivals (rate
per connector and day, hour-of-day profile in the site's local time) come from the Dundee
public network, AC and DC apart; DC session energy too.
"""

from __future__ import annotations

QUANTILE_LEVELS: tuple[float, ...] = (0, 0.5, 1, 2.5, *(5.0 * k for k in range(1, 20)), 97.5, 99, 99.5, 100)

# fmt: off
# --- measured: ACN-Data Caltech, 1952 sessions with a doneChargingTime in [connect, disconnect],
# energy > 0 and at most 24 h plugged in (of 3235).
ACN_IDLE_SHARE_ALL = 0.5752  # Σ(disconnect − done) / Σ(plugged-in), all usable sessions (README: ≈ 57 %)
ACN_IDLE_SHARE = 0.5683  # the same over the ≤ 24 h sessions the tables below are fitted to
ACN_IDLE_30MIN_SHARE = 0.6465
ACN_ENERGY_MEDIAN_KWH = 5.259
ACN_PLUG_IN_MEDIAN_H = 3.141
ACN_ENERGY_KWH_Q = (
    0.501, 0.585, 0.65, 0.791, 0.86, 0.916, 1.386, 1.952, 2.186, 2.462, 3.152, 3.924, 4.629, 5.265,
    5.9, 6.228, 6.429, 7.437, 8.717, 9.993, 12.318, 15.342, 24.456, 34.697, 42.933, 50.516, 58.354,
)
ACN_POWER_KW_Q = (  # energy / (done − connect)
    0.116, 0.268, 0.348, 0.95, 1.639, 1.779, 2.002, 2.063, 2.62, 2.891, 3.05, 3.112, 3.166, 3.317,
    3.417, 3.47, 3.603, 4.894, 5.901, 6.198, 6.389, 6.525, 6.739, 6.863, 6.954, 7.034, 49.066,
)
ACN_IDLE_MIN_Q = (  # disconnect − done
    0.017, 0.05, 0.067, 0.067, 0.083, 0.083, 0.1, 0.183, 4.483, 15.65, 28.4, 40.867, 54.467, 71.0,
    97.017, 126.317, 156.167, 192.267, 228.25, 276.95, 329.5, 391.267, 448.283, 501.267, 639.483,
    756.483, 1106.3,
)
# normal scores of (energy, power, idle)
ACN_CORRELATION = ((1.0, 0.7123, 0.0577), (0.7123, 1.0, -0.1602), (0.0577, -0.1602, 1.0))

# --- measured: Dundee City Council 2018-03 → 2018-06 (UK local time), without the test site, running
# sessions, non-positive kWh/duration and duplicates. DC = the APT rapid chargers (50 kW).
DUNDEE_AC_SESSIONS_PER_CONNECTOR_DAY = 0.763
DUNDEE_DC_SESSIONS_PER_CONNECTOR_DAY = 4.511
DUNDEE_AC_ARRIVALS_BY_HOUR = (
    45, 32, 25, 31, 25, 17, 43, 181, 470, 524, 469, 558, 824, 670, 535, 556, 496, 276, 155, 155, 134,
    349, 39, 91,
)
DUNDEE_DC_ARRIVALS_BY_HOUR = (
    234, 238, 144, 129, 149, 147, 215, 399, 363, 528, 555, 588, 624, 658, 571, 490, 524, 478, 413,
    405, 405, 339, 313, 267,
)
DUNDEE_DC_ENERGY_MEDIAN_KWH = 8.819
DUNDEE_DC_PLUG_IN_MEDIAN_MIN = 23.0
DUNDEE_DC_ENERGY_KWH_Q = (
    0.002, 0.229, 0.472, 1.01, 1.66, 2.68, 3.44, 4.175, 4.87, 5.593, 6.344, 7.15, 7.927, 8.819,
    9.759, 10.71, 11.7, 12.753, 13.91, 15.138, 16.679, 18.446, 21.18, 23.82, 29.087, 35.179, 67.584,
)

# fmt: on

# --- assumptions (no charging-done times or vehicle data in the DC files)
DC_VEHICLE_PEAK_KW = ((50.0, 0.3), (75.0, 0.2), (120.0, 0.2), (170.0, 0.15), (250.0, 0.15))
DC_IDLE_MEAN_MIN = 3.0  # drivers leave a fast charger promptly
MIN_SESSION_ENERGY_WH = 600  # below 0.5 kWh a session is a "short session" pitfall (DOMAIN.md 13)
MIN_PLUG_IN_MS = 3 * 60_000  # likewise under 2 minutes
