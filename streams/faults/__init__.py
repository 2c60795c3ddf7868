"""Faults, offline stations and failed starts: the pure rules behind `alerts.faults`."""

from streams.faults.alerts import FaultCtx, alert_id
from streams.faults.rules import FaultRules
from streams.faults.station_faults import StationFaults, advance, next_due, on_bills, on_event

__all__ = [
    "FaultCtx",
    "FaultRules",
    "StationFaults",
    "advance",
    "alert_id",
    "next_due",
    "on_bills",
    "on_event",
]
