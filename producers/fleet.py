"""The fleet simulator's stable entry point (kept for its callers); it lives in `producers.simulator`."""

from producers.simulator import (
    BASE_TIME_MS,
    FleetConfig,
    Pitfalls,
    Simulation,
    TrueSession,
    iter_truth_lines,
    run,
    simulate,
)

__all__ = [
    "BASE_TIME_MS",
    "FleetConfig",
    "Pitfalls",
    "Simulation",
    "TrueSession",
    "iter_truth_lines",
    "run",
    "simulate",
]
