"""Driver feedback and connector health → technician dispatch (`alerts.maintenance`), and drivers'
idle-car reports joined to the idle alerts (`alerts.idle`). The pure rules behind the maintenance stage."""

from streams.maintenance.dispatch import (
    on_alert,
    on_feedback,
    on_resolution,
    on_session,
    on_status,
    on_time,
)
from streams.maintenance.state import PortStatus, SessionOutcome, StationCare, StationTime

__all__ = [
    "PortStatus",
    "SessionOutcome",
    "StationCare",
    "StationTime",
    "on_alert",
    "on_feedback",
    "on_resolution",
    "on_session",
    "on_status",
    "on_time",
]
