"""Real services for the tests: Kafka and ClickHouse. A service that cannot be had fails the run.

Kafka: CHARGESTREAM_KAFKA_BOOTSTRAP if set; else testcontainers when a Docker engine answers;
else a local broker from the official jars (started once per test session).
ClickHouse: CHARGESTREAM_CLICKHOUSE_URL if set; else an embedded chdb store in a temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from chargestream import kafka_local
from chargestream.settings import Settings
from schemas.topics import ensure_topics

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("CHARGESTREAM_CACHE_DIR", REPO / ".chargestream"))


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_BROKER_LINES: list[str] = []


def _say(config: pytest.Config, line: str) -> None:
    """Show a line now (capture suspended) and again in the closing summary."""
    _BROKER_LINES.append(line)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line(line)


_SERIAL_DIRS = ("e2e", "reliability")  # stacks, brokers of their own, kills: one at a time


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `kafka` what needs a broker (the fixture, even through another one) or runs whole stacks:
    scripts/test.sh runs those one at a time and everything else on every core."""
    for item in items:
        uses = getattr(item, "fixturenames", ())
        if "kafka_bootstrap" in uses or item.path.parent.name in _SERIAL_DIRS:
            item.add_marker(pytest.mark.kafka)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _BROKER_LINES:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    external = os.environ.get("CHARGESTREAM_KAFKA_BOOTSTRAP")
    if external:
        _say(request.config, f"Kafka broker: external cluster at {external}")
        _assert_reachable(external)
        yield external
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        image = f"apache/kafka:{Settings().kafka_version}"
        with KafkaContainer(image).with_kraft() as kc:
            bootstrap = kc.get_bootstrap_server()
            _say(request.config, f"Kafka broker: {image} via testcontainers at {bootstrap}")
            yield bootstrap
        return
    state = tmp_path_factory.mktemp("kafka-state")
    settings = Settings(
        state_dir=state,
        cache_dir=CACHE_DIR,
        kafka_port=kafka_local.free_port(),
        kafka_controller_port=kafka_local.free_port(),
        kafka_bootstrap=None,
    )
    kafka_local.start_broker(settings)  # raises (fails the run) when no broker can be had
    _say(
        request.config,
        f"Kafka broker: Apache Kafka {kafka_local.broker_version(settings)} "
        f"(KRaft, local jars) at {settings.bootstrap}",
    )
    try:
        yield settings.bootstrap
    finally:
        kafka_local.stop_broker(settings)


def _assert_reachable(bootstrap: str) -> None:
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
    except Exception as exc:
        pytest.fail(f"CHARGESTREAM_KAFKA_BOOTSTRAP={bootstrap} does not answer: {exc}")


@pytest.fixture(scope="session")
def kafka_topics(kafka_bootstrap: str) -> str:
    """The bootstrap of a broker that has every contract topic."""
    ensure_topics(kafka_bootstrap, partitions=3)
    return kafka_bootstrap


@pytest.fixture
def clickhouse_url(tmp_path: Path) -> str:
    return os.environ.get("CHARGESTREAM_CLICKHOUSE_URL") or f"chdb://{tmp_path / 'clickhouse'}"


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def stack_settings(kafka_topics: str, clickhouse_url: str, tmp_path: Path, unique: str) -> Settings:
    """Settings for a worker + sink of our own on the shared test broker (own groups and ports)."""
    return Settings(
        state_dir=tmp_path / "state",
        cache_dir=CACHE_DIR,
        kafka_bootstrap=kafka_topics,
        clickhouse_url=clickhouse_url,
        query_port=kafka_local.free_port(),
        gateway_port=kafka_local.free_port(),
        gateway_metrics_port=kafka_local.free_port(),
        worker_metrics_port=kafka_local.free_port(),
        sink_metrics_port=kafka_local.free_port(),
        worker_id=f"test-worker-{unique}",
        sink_group=f"test-sink-{unique}",
        sink_flush_seconds=0.2,
    )
