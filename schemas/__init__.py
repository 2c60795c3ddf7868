"""Avro schemas of the contract topics, the typed event model and the wire-format codec."""
