"""OCPP 1.6J: the charge-point handlers and the transaction ids the gateway assigns."""
