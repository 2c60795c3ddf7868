"""ClickHouse side: migrations, the Kafka-to-ClickHouse writer and the read-only query endpoint."""
