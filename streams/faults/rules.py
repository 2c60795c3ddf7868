"""When a station's trouble becomes an alert: the thresholds of the fault rules. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import MINUTE_MS


@dataclass(frozen=True, slots=True)
class FaultRules:
    """When a station's trouble becomes an alert. Per-site values override these (network file)."""

    offline_grace_ms: int = 5 * MINUTE_MS
    """A lost connection that is back within this is a blip, not an outage."""
    heartbeat_ms: int = 5 * MINUTE_MS
    """The heartbeat interval the gateway gives stations at boot (BootNotification.interval)."""
    heartbeat_misses: int = 3
    """A station silent for this many heartbeat intervals is offline, connection or not."""
    flapping_faults: int = 4
    flapping_window_ms: int = 60 * MINUTE_MS
    """This many faults of one connector within this window: it flaps (hysteresis, not N alerts)."""
    flapping_stable_ms: int = 60 * MINUTE_MS
    """A flapping connector is stable again after this long without a new fault."""
    start_failures: int = 3
    """This many sessions in a row that delivered no energy: drivers cannot charge here."""
    site_outage_share: float = 0.8
    site_outage_stations: int = 2
    site_outage_window_ms: int = 10 * MINUTE_MS
    """Most of a site's stations down (offline or station-faulted) within minutes of each other: the
    site lost power or network, one incident, not one technician per station."""
    burst_connectors: int = 3
    burst_stations: int = 2
    burst_window_ms: int = 30 * MINUTE_MS
    """Several connectors of one site faulted close together: a site cause (supply, weather, vandalism)."""
    cluster_stations: int = 3
    cluster_sites: int = 2
    cluster_window_ms: int = 24 * 60 * MINUTE_MS
    """One error on one vendor + model + firmware at several sites within a day: call the manufacturer."""
    dispatch_reports: int = 3
    dispatch_window_ms: int = 24 * 60 * MINUTE_MS
    """This many failure reports by drivers on one station within this window send a technician (one
    report is enough while a fault, offline or start-failure alert is open there)."""
