"""The CLI as a user runs it: up, simulate, sql, status, down — and the one-line setup errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chargestream.kafka_local import free_port, port_free
from tests.cli_text import plain
from tests.conftest import CACHE_DIR

CLI = [sys.executable, "-m", "chargestream.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGESTREAM_")}
    env.update(
        {
            "CHARGESTREAM_STATE_DIR": str(tmp_path / "state"),
            "CHARGESTREAM_CACHE_DIR": str(CACHE_DIR),
            "CHARGESTREAM_KAFKA_PORT": str(free_port()),
            "CHARGESTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CHARGESTREAM_QUERY_PORT": str(free_port()),
            "CHARGESTREAM_GATEWAY_PORT": str(free_port()),
            "CHARGESTREAM_GATEWAY_METRICS_PORT": str(free_port()),
            "CHARGESTREAM_WORKER_METRICS_PORT": str(free_port()),
            "CHARGESTREAM_SINK_METRICS_PORT": str(free_port()),
            "CHARGESTREAM_WORKER_ID": f"e2e-{tmp_path.name}",
            "CHARGESTREAM_SINK_GROUP": f"e2e-sink-{tmp_path.name}",
        }
    )
    for key in ("CHARGESTREAM_KAFKA_BOOTSTRAP", "CHARGESTREAM_CLICKHOUSE_URL"):  # an external cluster wins
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = _env(tmp_path, CHARGESTREAM_ID_TOKEN_KEY=f"e2e-secret-{tmp_path.name}")
    try:
        yield env
    finally:
        _cli(env, "down")


def _pids(state: Path) -> list[int]:
    return [int(p.read_text()) for p in (state / "run").glob("*.pid")]


def test_up_simulate_sql_status_down(stack_env: dict[str, str]) -> None:
    state = Path(stack_env["CHARGESTREAM_STATE_DIR"])
    up = _cli(stack_env, "up")
    assert up.returncode == 0, up.stderr + up.stdout
    assert "ready in" in plain(up.stdout)
    pids = _pids(state)
    assert len(pids) >= 2

    sim = _cli(
        stack_env, "simulate", "--stations", "2", "--connectors", "2", "--sessions", "2", "--seed", "41"
    )
    assert sim.returncode == 0, sim.stderr + sim.stdout
    truth = [json.loads(ln) for ln in (state / "truth" / "fleet-41.jsonl").read_text().splitlines()]
    assert len(truth) == 8

    table = "chargestream.billing_records FINAL"
    query = f"SELECT count(), sum(energy_wh) FROM {table} WHERE station_id LIKE 'SIM-41-%'"
    deadline = time.monotonic() + 90
    out = ""
    while time.monotonic() < deadline:
        res = _cli(stack_env, "sql", query, "--format", "TabSeparated")
        assert res.returncode == 0, res.stderr
        out = res.stdout.strip()
        if out.split("\t")[0] == "8":
            break
        time.sleep(1)
    assert out == f"8\t{sum(t['energy_wh'] for t in truth)}"

    write = _cli(stack_env, "sql", "DROP TABLE chargestream.billing_records")
    assert write.returncode == 1 and "read-only" in plain(write.stderr)
    # The endpoint runs in the sink: its environment holds no HMAC key, and it cannot be read anyway.
    key = stack_env["CHARGESTREAM_ID_TOKEN_KEY"]
    environ = {
        name: Path(f"/proc/{(state / 'run' / f'{name}.pid').read_text().strip()}/environ").read_bytes()
        for name in ("sink", "worker", "gateway")
    }
    assert key.encode() in environ["gateway"]
    assert key.encode() not in environ["sink"] and key.encode() not in environ["worker"]
    for hostile in (
        "SELECT file('/proc/self/environ')",
        "SELECT * FROM file('/proc/self/environ', 'RawBLOB', 'x String')",
        "WITH 1 AS x INSERT INTO chargestream.billing_records (session_id, version) SELECT 'forged', x",
        f"SELECT 1 INTO OUTFILE '{state / 'run' / 'sink.pid'}' TRUNCATE",
    ):
        res = _cli(stack_env, "sql", hostile, "--format", "TabSeparated")
        assert res.returncode == 1 and key not in res.stdout + res.stderr, (hostile, res.stdout)
    assert _cli(stack_env, "sql", query, "--format", "TabSeparated").stdout.strip() == out

    st = _cli(stack_env, "status")
    assert st.returncode == 0
    assert st.stdout.count("running") >= 2, st.stdout

    down = _cli(stack_env, "down")
    assert down.returncode == 0 and "stopped:" in plain(down.stdout)
    time.sleep(0.5)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], (
            pid
        )
    assert not _pids(state)
    for key in ("CHARGESTREAM_KAFKA_PORT", "CHARGESTREAM_QUERY_PORT", "CHARGESTREAM_GATEWAY_PORT"):
        assert port_free("127.0.0.1", int(stack_env[key])), key

    # Stack down: the query opens the store itself and sees the same records.
    after = _cli(stack_env, "sql", query, "--format", "TabSeparated")
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == out


@pytest.mark.skipif(
    "CHARGESTREAM_KAFKA_BOOTSTRAP" in os.environ, reason="no local broker with an external cluster"
)
def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        env = _env(tmp_path, CHARGESTREAM_KAFKA_PORT=str(s.getsockname()[1]))
        res = _cli(env, "up", timeout=60)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert "in use" in plain(res.stderr) and "CHARGESTREAM_KAFKA_PORT" in plain(res.stderr)
    assert len(lines) <= 3, res.stderr  # one message (rich may wrap it)
    assert not _pids(tmp_path / "state")


def test_no_java_is_one_clear_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = _env(tmp_path, PATH=str(bin_dir), CHARGESTREAM_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CHARGESTREAM_KAFKA_BOOTSTRAP", None)
    res = _cli(env, "up", timeout=60)
    assert res.returncode == 2
    assert "java not found" in plain(res.stderr) and "openjdk-17" in plain(res.stderr)


def test_maven_unreachable_is_one_clear_line(tmp_path: Path) -> None:
    # A mirror that nothing listens on: Maven really fails to connect, as behind a broken proxy.
    settings_xml = tmp_path / "settings.xml"
    settings_xml.write_text(f"""<settings><mirrors><mirror><id>dead</id><mirrorOf>*</mirrorOf>
        <url>http://127.0.0.1:{free_port()}/maven2</url></mirror></mirrors></settings>""")
    env = _env(
        tmp_path,
        CHARGESTREAM_CACHE_DIR=str(tmp_path / "cache"),
        CHARGESTREAM_MAVEN_SETTINGS=str(settings_xml),
    )
    res = _cli(env, "kafka", "fetch", timeout=120)
    assert res.returncode == 2
    assert "could not fetch the Kafka" in plain(res.stderr) and "CHARGESTREAM_KAFKA_BOOTSTRAP" in plain(
        res.stderr
    )
    assert not list((tmp_path / "cache").glob("kafka/jars-*/*.jar"))
