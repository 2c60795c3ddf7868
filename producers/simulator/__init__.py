"""The fleet simulator: calibrated sessions, pitfalls, incidents, driver feedback, ground truth.

The core (everything but `kafka_output` and `ocpp_output`) is pure: configuration in, events and
truth out, deterministic by seed.
"""

from producers.simulator.feedback import FeedbackRates, FeedbackReport
from producers.simulator.incidents import INCIDENT_PRESETS, Incident, IncidentRates
from producers.simulator.pitfalls import PITFALL_NAMES, PRESETS, Pitfalls
from producers.simulator.simulation import BASE_TIME_MS, FleetConfig, Simulation, plan, run, simulate
from producers.simulator.truth import TrueFeedback, TrueSession, iter_truth_lines

__all__ = [
    "BASE_TIME_MS",
    "INCIDENT_PRESETS",
    "PITFALL_NAMES",
    "PRESETS",
    "FeedbackRates",
    "FeedbackReport",
    "FleetConfig",
    "Incident",
    "IncidentRates",
    "Pitfalls",
    "Simulation",
    "TrueFeedback",
    "TrueSession",
    "iter_truth_lines",
    "plan",
    "run",
    "simulate",
]
