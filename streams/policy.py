"""What the session engine is told rather than what it infers: timings, tariffs, idle thresholds.

Pure data; the worker builds it from the network file (`policy_from_network`), tests build it
directly. Defaults are what an operator would start with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from schemas.events import HOUR_MS, MINUTE_MS
from streams.faults.rules import FaultRules
from streams.tariffs import Tariff, parse_tariff

if TYPE_CHECKING:
    from schemas.network import FaultRulesConfig, NetworkConfig


@dataclass(frozen=True)
class Policy:
    allowed_lateness_ms: int = 2 * MINUTE_MS
    """Events up to this much older than the newest of their station are put in order."""
    missing_stop_after_ms: int = 24 * HOUR_MS
    """An open session with no event for this long (station event time) is closed as estimated."""
    unplug_grace_ms: int = 10 * MINUTE_MS
    """After a stop that says the EV left, the connector's Available is awaited this long."""
    no_energy_idle_after_ms: int = 10 * MINUTE_MS
    """Charging status but no register rise for this long: the car is idle since the last rise."""
    correction_window_ms: int = 2 * HOUR_MS
    """How long a connector keeps the events of its sessions to re-derive them when one arrives
    out of order (the last closed session is kept in any case: its stop may still come)."""
    min_billable_ms: int = 2 * MINUTE_MS
    min_billable_wh: int = 500
    """Shorter or smaller sessions are recorded but not billed (DOMAIN.md pitfall 13)."""
    tariffs: Mapping[str, Tariff] = field(default_factory=dict)
    tariff_json: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The OCPI objects as configured, for CDR export."""
    station_tariff: Mapping[str, str] = field(default_factory=dict)
    site_tariff: Mapping[str, str] = field(default_factory=dict)
    default_tariff_id: str | None = None
    site_idle_minutes: Mapping[str, float] = field(default_factory=dict)
    site_time_zone: Mapping[str, str] = field(default_factory=dict)
    fault_rules: FaultRules = field(default_factory=FaultRules)
    """When faults, offline stations and failed starts become alerts; per site below."""
    site_fault_rules: Mapping[str, FaultRules] = field(default_factory=dict)

    def fault_rules_for(self, site_id: str | None) -> FaultRules:
        return self.site_fault_rules.get(site_id or "", self.fault_rules)

    def tariff_id_for(self, station_id: str, site_id: str | None) -> str | None:
        return (
            self.station_tariff.get(station_id)
            or (self.site_tariff.get(site_id) if site_id else None)
            or self.default_tariff_id
        )


def fault_rules(cfg: FaultRulesConfig | None, base: FaultRules | None = None) -> FaultRules:
    """Rules from their configuration (minutes and counts); what it leaves unset stays as ``base``."""
    base = base or FaultRules()
    if cfg is None:
        return base
    minutes = {
        "offline_grace_ms": cfg.offline_grace_minutes,
        "heartbeat_ms": cfg.heartbeat_minutes,
        "flapping_window_ms": cfg.flapping_window_minutes,
        "flapping_stable_ms": cfg.flapping_stable_minutes,
        "site_outage_window_ms": cfg.site_outage_window_minutes,
        "burst_window_ms": cfg.burst_window_minutes,
        "cluster_window_ms": cfg.cluster_window_minutes,
        "dispatch_window_ms": cfg.dispatch_window_minutes,
    }
    counts = {
        "heartbeat_misses": cfg.heartbeat_misses,
        "flapping_faults": cfg.flapping_faults,
        "start_failures": cfg.start_failures,
        "site_outage_stations": cfg.site_outage_stations,
        "burst_connectors": cfg.burst_connectors,
        "burst_stations": cfg.burst_stations,
        "cluster_stations": cfg.cluster_stations,
        "cluster_sites": cfg.cluster_sites,
        "dispatch_reports": cfg.dispatch_reports,
    }
    changes: dict[str, Any] = {k: round(v * MINUTE_MS) for k, v in minutes.items() if v is not None}
    changes |= {k: v for k, v in counts.items() if v is not None}
    if cfg.site_outage_share is not None:
        changes["site_outage_share"] = cfg.site_outage_share
    return replace(base, **changes)


def policy_from_network(
    cfg: NetworkConfig, *, global_fault_rules: FaultRulesConfig | None = None, **overrides: Any
) -> Policy:
    """The policy of a network file: its tariffs parsed, per-station and per-site choices. Fault
    rules: the defaults, then ``global_fault_rules`` (the environment), then each site's own."""
    rules = fault_rules(global_fault_rules)
    return Policy(
        tariffs={tid: parse_tariff(raw) for tid, raw in cfg.tariffs.items()},
        tariff_json=dict(cfg.tariffs),
        station_tariff={sid: st.tariff_id for sid, st in cfg.stations.items() if st.tariff_id},
        site_tariff={sid: s.tariff_id for sid, s in cfg.sites.items() if s.tariff_id},
        default_tariff_id=cfg.default_tariff_id,
        site_idle_minutes={
            sid: s.idle_escalation_minutes for sid, s in cfg.sites.items() if s.idle_escalation_minutes
        },
        site_time_zone={sid: s.time_zone for sid, s in cfg.sites.items()},
        fault_rules=rules,
        site_fault_rules={
            sid: fault_rules(s.fault_rules, rules) for sid, s in cfg.sites.items() if s.fault_rules
        },
        **overrides,
    )
