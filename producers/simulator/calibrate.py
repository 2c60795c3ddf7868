"""Compute the simulator's calibration figures from the public session datasets, and print them.

    python -m producers.simulator.calibrate [--datasets DIR]

The numbers it prints are stored as constants in `producers/simulator/calibration.py`;
`tests/unit/test_simulator_calibration.py` re-runs this and checks the constants still match.
Datasets: `../shared/datasets/` (or $CHARGESTREAM_SHARED_DIR/datasets); see its README.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.simulator.calibration import QUANTILE_LEVELS

_REPO = Path(__file__).resolve().parents[2]
_NORMAL = statistics.NormalDist()
MAX_PLUG_IN_S = 24 * 3600  # sessions over a day are a listed defect of ACN; they would dominate the tails
DUNDEE_DC_MODELS = ("Rapid", "Raption")  # APT Triple/Dual Rapid Charger, APT 50kW Raption


def datasets_dir() -> Path:
    shared = Path(os.environ.get("CHARGESTREAM_SHARED_DIR", _REPO.parent / "shared"))
    return shared / "datasets"


def quantiles(values: list[float], levels: tuple[float, ...] = QUANTILE_LEVELS) -> list[float]:
    """Nearest-rank quantiles at `levels` (percent), rounded for storing as constants."""
    s = sorted(values)
    n = len(s)
    return [round(s[min(n - 1, round(p / 100 * (n - 1)))], 3) for p in levels]


def normal_scores(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    z = [0.0] * len(values)
    for rank, i in enumerate(order):
        z[i] = _NORMAL.inv_cdf((rank + 0.5) / len(values))
    return z


@dataclass(frozen=True)
class AcnFigures:
    sessions: int
    usable: int  # a doneChargingTime inside [connect, disconnect], energy > 0
    idle_share_all: float  # the README's figure: Σ(disconnect − done) / Σ(disconnect − connect)
    idle_share: float  # the same over usable sessions of at most a day (what the simulator is fitted to)
    idle_30min_share: float
    energy_median_kwh: float
    energy_median_all_kwh: float
    plug_in_median_h: float
    energy_kwh_q: list[float]
    power_kw_q: list[float]  # energy / (done − connect): the effective charging power
    idle_min_q: list[float]
    correlation: list[list[float]]  # normal scores of (energy, power, idle)


def acn(path: Path) -> AcnFigures:
    items = json.loads(path.read_text())["_items"]
    rows_all: list[tuple[float, float, float]] = []  # (plug-in s, idle s, kWh)
    rows: list[tuple[float, float, float, float]] = []  # (plug-in s, kWh, kW, idle min)
    for it in items:
        if it.get("doneChargingTime") is None or it["kWhDelivered"] <= 0:
            continue
        conn = parsedate_to_datetime(it["connectionTime"])
        done = parsedate_to_datetime(it["doneChargingTime"])
        disc = parsedate_to_datetime(it["disconnectTime"])
        if not conn <= done <= disc:
            continue
        plug = (disc - conn).total_seconds()
        idle = (disc - done).total_seconds()
        kwh = float(it["kWhDelivered"])
        rows_all.append((plug, idle, kwh))
        if plug <= MAX_PLUG_IN_S:
            charge_h = max((done - conn).total_seconds(), 60.0) / 3600
            rows.append((plug, kwh, kwh / charge_h, idle / 60))
    energy = [r[1] for r in rows]
    power = [r[2] for r in rows]
    idle_min = [r[3] for r in rows]
    scores = [normal_scores(v) for v in (energy, power, idle_min)]
    corr = [[1.0 if a is b else round(statistics.correlation(a, b), 4) for b in scores] for a in scores]
    return AcnFigures(
        sessions=len(items),
        usable=len(rows),
        idle_share_all=round(sum(r[1] for r in rows_all) / sum(r[0] for r in rows_all), 4),
        idle_share=round(sum(r[3] * 60 for r in rows) / sum(r[0] for r in rows), 4),
        idle_30min_share=round(sum(1 for m in idle_min if m >= 30) / len(rows), 4),
        energy_median_kwh=round(statistics.median(energy), 3),
        energy_median_all_kwh=round(statistics.median(float(it["kWhDelivered"]) for it in items), 3),
        plug_in_median_h=round(statistics.median(r[0] for r in rows) / 3600, 3),
        energy_kwh_q=quantiles(energy),
        power_kw_q=quantiles(power),
        idle_min_q=quantiles(idle_min),
        correlation=corr,
    )


@dataclass(frozen=True)
class DundeeFigures:
    kind: str  # AC | DC
    sessions: int
    connectors: int
    days: float
    sessions_per_connector_day: float
    arrivals_by_hour: list[int]  # local (UK) hour of the session start
    energy_median_kwh: float
    plug_in_median_min: float
    energy_kwh_q: list[float]


def dundee(path: Path) -> list[DundeeFigures]:
    """AC and DC figures of the Dundee export, without its defects (test site, running sessions,
    non-positive kWh or duration, duplicate (CP, connector, start))."""
    seen: set[tuple[str, str, datetime]] = set()
    by_kind: dict[str, list[tuple[str, datetime, float, float]]] = {"AC": [], "DC": []}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            if "TEST" in r["Site"] or not r["End Date"] or not r["Total kWh"]:
                continue
            start = datetime.strptime(f"{r['Start Date']} {r['Start Time']}", "%d/%m/%Y %H:%M")
            end = datetime.strptime(f"{r['End Date']} {r['End Time']}", "%d/%m/%Y %H:%M")
            key = (r["CP ID"], r["Connector"], start)
            kwh = float(r["Total kWh"])
            if key in seen or kwh <= 0 or end <= start:
                continue
            seen.add(key)
            kind = "DC" if any(m in r["Model"] for m in DUNDEE_DC_MODELS) else "AC"
            connector = f"{r['CP ID']}/{r['Connector']}"
            by_kind[kind].append((connector, start, kwh, (end - start).total_seconds() / 60))
    out = []
    for kind, rows in by_kind.items():
        starts = [r[1] for r in rows]
        days = (max(starts) - min(starts)).total_seconds() / 86400
        connectors = len({r[0] for r in rows})
        hours = Counter(s.hour for s in starts)
        out.append(
            DundeeFigures(
                kind=kind,
                sessions=len(rows),
                connectors=connectors,
                days=round(days, 2),
                sessions_per_connector_day=round(len(rows) / connectors / days, 3),
                arrivals_by_hour=[hours[h] for h in range(24)],
                energy_median_kwh=round(statistics.median(r[2] for r in rows), 3),
                plug_in_median_min=round(statistics.median(r[3] for r in rows), 1),
                energy_kwh_q=quantiles([r[2] for r in rows]),
            )
        )
    return out


def _hms(text: str) -> int:
    h, m, s = text.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


def idle_share_from_durations(path: Path, total_col: str, charging_col: str) -> tuple[float, float]:
    """(idle share of plugged-in time, share of sessions idle ≥ 30 min) from total/charging durations."""
    total = idle = n = n30 = 0
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            try:
                t, c = _hms(r[total_col]), _hms(r[charging_col])
            except (ValueError, KeyError):
                continue
            if t <= 0:
                continue
            i = max(t - c, 0)  # charging longer than total is a listed defect: no idle
            total, idle, n, n30 = total + t, idle + i, n + 1, n30 + (i >= 1800)
    return round(idle / total, 4), round(n30 / n, 4)


def acn_arrivals_by_hour(path: Path) -> list[int]:
    tz = ZoneInfo("America/Los_Angeles")
    hours = Counter(
        parsedate_to_datetime(it["connectionTime"]).astimezone(tz).hour
        for it in json.loads(path.read_text())["_items"]
    )
    return [hours[h] for h in range(24)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=datasets_dir())
    d: Path = ap.parse_args(argv).datasets
    a = acn(d / "acn_caltech_sessions.json")
    print("# ACN-Data Caltech (AC, workplace): session shape")
    for k, v in a.__dict__.items():
        print(f"ACN_{k.upper()} = {v!r}")
    for f in dundee(d / "dundee_sessions_2018.csv"):
        print(f"# Dundee {f.kind} (public network): arrivals and DC energy")
        for k, v in f.__dict__.items():
            if k != "kind":
                print(f"DUNDEE_{f.kind}_{k.upper()} = {v!r}")
    boulder = idle_share_from_durations(
        d / "boulder_sessions.csv", "Total_Duration__hh_mm_ss_", "Charging_Time__hh_mm_ss_"
    )
    palo = idle_share_from_durations(
        d / "paloalto_sessions_subset.csv", "Total Duration (hh:mm:ss)", "Charging Time (hh:mm:ss)"
    )
    print("# cross-checks (idle share, share idle >= 30 min)")
    print(f"BOULDER_IDLE = {boulder!r}")
    print(f"PALO_ALTO_IDLE = {palo!r}")


if __name__ == "__main__":
    main()
