"""OCPP 2.0.1: the charge-point handlers."""
