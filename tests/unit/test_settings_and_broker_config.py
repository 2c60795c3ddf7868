from __future__ import annotations

from pathlib import Path

import pytest

from chargestream.kafka_local import _server_properties, port_free
from chargestream.query import QueryError
from chargestream.settings import Settings


def test_env_vars_configure_and_an_external_cluster_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_KAFKA_PORT", "19999")
    assert Settings().bootstrap == "127.0.0.1:19999" and Settings().uses_local_broker
    monkeypatch.setenv("CHARGESTREAM_KAFKA_BOOTSTRAP", "kafka.example:9092")
    s = Settings()
    assert s.bootstrap == "kafka.example:9092" and not s.uses_local_broker


def test_clickhouse_defaults_to_embedded_store_under_state(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    assert s.clickhouse_dsn == f"chdb://{tmp_path / 'clickhouse'}" and s.uses_embedded_clickhouse
    assert not Settings(clickhouse_url="http://ch:8123").uses_embedded_clickhouse


def test_single_node_broker_properties(tmp_path: Path) -> None:
    props = dict(
        ln.split("=", 1) for ln in _server_properties(Settings(kafka_port=1234), tmp_path).splitlines() if ln
    )
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:1234,")
    assert props["auto.create.topics.enable"] == "false"


def test_port_free_sees_a_bound_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not port_free("127.0.0.1", s.getsockname()[1])


def test_query_error_is_an_error() -> None:
    assert issubclass(QueryError, RuntimeError)
