"""The OCPP 1.6J / 2.0.1 gateway and the feedback intake: chargers in, canonical events to Kafka."""
