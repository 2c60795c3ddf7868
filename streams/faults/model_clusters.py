"""The model stage: one error on one vendor + model + firmware at several sites is the manufacturer's.

model_firmware_cluster — the same fault code (1.6 errorCode + vendorErrorCode, 2.0.1 component /
variable / techCode) on ``cluster_stations`` stations of one vendor, model and firmware at
``cluster_sites`` sites, opened within ``cluster_window_ms``: one incident keyed by (vendor, model,
firmware, code), updated as stations join, resolved when none of its faults is open. Where the code is a
ChargeX minimum-required code, the alert names it. A fault folded into a site incident (outage, burst)
has a site cause and does not count here. The members' own alerts keep their site parent (a fault
belongs to one incident at most); the cluster lists them. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.records import Alert
from streams.compact import fields_reduce
from streams.faults.alerts import alert_id, changed
from streams.faults.chargex import chargex_code
from streams.faults.rules import FaultRules

FAULT_TYPES = frozenset({"connector_fault", "station_fault"})
NO_ERROR = "NoError"


@dataclass(frozen=True, slots=True)
class ModelKey:
    vendor: str
    model: str
    firmware: str
    code: str

    def __str__(self) -> str:
        return f"{self.vendor}|{self.model}|{self.firmware}|{self.code}"


def fault_code(details: dict[str, Any]) -> str | None:
    """The error a fault alert reports, comparable across stations; None when it names none."""
    if details.get("tech_code") or details.get("component"):
        parts = (details.get("component"), details.get("variable"), details.get("tech_code"))
        return "/".join(str(p) for p in parts if p)
    code = details.get("error_code")
    if not code or code == NO_ERROR:
        return None
    vendor_code = details.get("vendor_error_code")
    return f"{code}:{vendor_code}" if vendor_code else str(code)


def model_key(alert: Alert, vendor: str | None, model: str | None, firmware: str | None) -> ModelKey | None:
    code = fault_code(alert.details) if alert.type in FAULT_TYPES else None
    if code is None or not vendor or not model:
        return None
    return ModelKey(vendor, model, firmware or "", code)


@dataclass(slots=True)
class ModelFaults:
    __reduce__ = fields_reduce

    key: ModelKey
    faults: dict[str, tuple[str, str, int, bool]] = field(
        default_factory=dict
    )  # id -> station, site, at, open
    source_versions: dict[str, int] = field(default_factory=dict)
    cluster: Alert | None = None
    used: set[str] = field(default_factory=set)  # faults of past clusters: never counted twice


def on_fault(st: ModelFaults, alert: Alert, rules: FaultRules) -> list[Alert]:
    """One fault alert (any state) of a station of this model with this code."""
    if alert.version <= st.source_versions.get(alert.alert_id, 0) or not alert.station_id:
        return []
    st.source_versions[alert.alert_id] = alert.version
    if alert.parent_id and (st.cluster is None or alert.alert_id not in st.cluster.details["faults"]):
        st.faults.pop(alert.alert_id, None)  # folded into a site incident: the site's cause, not the model's
        return []
    st.faults[alert.alert_id] = (
        alert.station_id,
        alert.site_id or alert.station_id,
        alert.opened_at,
        alert.status != "resolved",
    )
    at = alert.updated_at
    out: list[Alert] = []
    if st.cluster is None:
        found = _window(st, rules)
        if found is not None:
            start, ids = found
            st.cluster = Alert(
                alert_id=alert_id("model_firmware_cluster", str(st.key), None, start),
                type="model_firmware_cluster",
                status="opened",
                opened_at=start,
                updated_at=max(at, start),
                severity="critical",
                version=1,
                members=_members(st, ids),
                summary=_summary(st, ids),
                details=_details(st, ids),
            )
            out.append(st.cluster)
    else:
        ids = list(st.cluster.details["faults"])
        joined = [
            aid
            for aid, (_, _, opened, is_open) in sorted(st.faults.items(), key=lambda kv: (kv[1][2], kv[0]))
            if aid not in ids and aid not in st.used and is_open and st.cluster.opened_at <= opened <= at
        ]
        if joined:
            ids += joined
            st.cluster = changed(
                st.cluster,
                "updated",
                at,
                members=_members(st, ids),
                summary=_summary(st, ids),
                details=_details(st, ids),
            )
            out.append(st.cluster)
        elif not any(st.faults[i][3] for i in ids if i in st.faults):
            out.append(
                changed(
                    st.cluster,
                    "resolved",
                    at,
                    severity="info",
                    resolved_at=at,
                    summary=f"{st.key.vendor} {st.key.model}: no station has {st.key.code} now",
                )
            )
            st.used |= set(ids)
            st.cluster = None
    _forget(st, at, rules)
    return out


def _window(st: ModelFaults, rules: FaultRules) -> tuple[int, list[str]] | None:
    recent = sorted(
        ((a, f) for a, f in st.faults.items() if a not in st.used), key=lambda kv: (kv[1][2], kv[0])
    )
    for i, (_, (_, _, start, _)) in enumerate(recent):
        inside = [kv for kv in recent[i:] if kv[1][2] <= start + rules.cluster_window_ms]
        stations = {s for _, (s, _, _, _) in inside}
        sites = {site for _, (_, site, _, _) in inside}
        if len(stations) >= rules.cluster_stations and len(sites) >= rules.cluster_sites:
            return start, [aid for aid, _ in inside]
    return None


def _members(st: ModelFaults, ids: list[str]) -> tuple[dict[str, Any], ...]:
    stations = sorted({st.faults[i][0] for i in ids if i in st.faults})
    return tuple({"station_id": s, "connector_id": None} for s in stations)


def _details(st: ModelFaults, ids: list[str]) -> dict[str, Any]:
    rows = [st.faults[i] for i in ids if i in st.faults]
    details: dict[str, Any] = {
        "vendor": st.key.vendor,
        "model": st.key.model,
        "firmware": st.key.firmware,
        "code": st.key.code,
        "stations": len({r[0] for r in rows}),
        "sites": sorted({r[1] for r in rows}),
        "faults": ids,
    }
    cx = chargex_code(st.key.code.rsplit(":", 1)[-1].rsplit("/", 1)[-1])
    if cx is not None:
        details["chargex_code"], details["chargex_name"] = cx
    return details


def _summary(st: ModelFaults, ids: list[str]) -> str:
    d = _details(st, ids)
    return (
        f"{d['stations']} stations at {len(d['sites'])} sites, all {st.key.vendor} {st.key.model} "
        f"firmware {st.key.firmware or '?'}, report {st.key.code}: call the manufacturer"
    )


def _forget(st: ModelFaults, at: int, rules: FaultRules) -> None:
    """Resolved faults older than two windows that no open cluster lists: bounded state."""
    listed = set(st.cluster.details["faults"]) if st.cluster else set()
    for aid, (_, _, opened, is_open) in list(st.faults.items()):
        if not is_open and opened < at - 2 * rules.cluster_window_ms and aid not in listed:
            del st.faults[aid]
            st.source_versions.pop(aid, None)
            st.used.discard(aid)
