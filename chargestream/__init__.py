"""chargestream: CLI, settings and the local stack runner."""

__version__ = "0.1.0"
