"""A single-node Apache Kafka (KRaft) from the official jars on Maven Central.

Jars are resolved once with Maven into the state folder; storage is formatted once; the
broker runs as a background process with settings right for one node.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from importlib import resources
from pathlib import Path

from chargestream.processes import Managed
from chargestream.settings import Settings
from schemas.errors import SetupError

READY_LINE = "Kafka Server started"


def jars_dir(settings: Settings) -> Path:
    return settings.kafka_cache_dir / f"jars-{settings.kafka_version}"


def fetch_jars(settings: Settings, quiet: bool = False) -> Path:
    """Resolve kafka_2.13 and its runtime dependencies; a no-op when already cached."""
    target = jars_dir(settings)
    marker = target / ".complete"
    if marker.exists():
        return target
    java_version()  # fail early with the right message
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError(
            "Maven (mvn) not found: install it (apt-get install maven) to fetch the Kafka jars, "
            "or set CHARGESTREAM_KAFKA_BOOTSTRAP to an existing cluster"
        )
    work = settings.kafka_cache_dir / "resolve"
    work.mkdir(parents=True, exist_ok=True)
    pom = resources.files("chargestream").joinpath("kafka/pom.xml").read_text()
    (work / "pom.xml").write_text(pom.replace("KAFKA_VERSION", settings.kafka_version))
    libs = target.with_name(target.name + ".partial")
    shutil.rmtree(libs, ignore_errors=True)
    if not quiet:
        print(
            f"[kafka] resolving org.apache.kafka:kafka_2.13:{settings.kafka_version} from Maven Central",
            file=sys.stderr,
        )
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(work / "pom.xml"),
        f"-Dmaven.repo.local={settings.kafka_cache_dir / 'm2'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    if settings.maven_settings is not None:
        cmd[1:1] = ["-s", str(settings.maven_settings)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = _last_error_line(proc.stdout + proc.stderr)
        raise SetupError(
            f"could not fetch the Kafka {settings.kafka_version} jars from Maven Central ({detail}): "
            "check network/proxy settings in ~/.m2/settings.xml, or set CHARGESTREAM_KAFKA_BOOTSTRAP "
            "to an existing cluster"
        )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise SetupError(f"Maven finished but no kafka_2.13 jar is in {libs}: delete it and retry")
    shutil.rmtree(target, ignore_errors=True)
    libs.rename(target)
    marker.write_text(settings.kafka_version)
    return target


def _last_error_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if "ERROR" in ln]
    text = lines[0] if lines else (output.strip().splitlines() or ["mvn failed"])[-1]
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:200]


def java_version() -> int:
    java = shutil.which("java")
    if java is None:
        raise SetupError(
            "java not found: install Java 17+ (apt-get install openjdk-17-jre-headless), "
            "or set CHARGESTREAM_KAFKA_BOOTSTRAP to an existing cluster"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(m.group(1)) if m else 0
    if major == 1 and m and m.group(2):
        major = int(m.group(2))
    if major < 17:
        raise SetupError(
            f"Kafka 4 needs Java 17+, found {major or 'unknown'}: install openjdk-17-jre-headless"
        )
    return major


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_process(settings: Settings) -> Managed:
    return Managed("kafka", settings.run_dir, settings.logs_dir)


def _server_properties(settings: Settings, data_dir: Path) -> str:
    h, p, c = settings.kafka_host, settings.kafka_port, settings.kafka_controller_port
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{h}:{c}",
            f"listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            f"advertised.listeners=PLAINTEXT://{h}:{p}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={settings.topic_partitions}",
            # one node: internal topics cannot have more replicas than brokers
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # topics are created explicitly with their contract settings
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "",
        ]
    )


def start_broker(settings: Settings, timeout: float = 60.0) -> int:
    """Start the broker (formatting storage on first use) and wait until it serves."""
    proc = broker_process(settings)
    running = proc.pid()
    if running is not None:
        return running
    for port in (settings.kafka_port, settings.kafka_controller_port):
        if not port_free(settings.kafka_host, port):
            raise SetupError(
                f"port {port} on {settings.kafka_host} is in use by another process: stop it, or choose "
                "free ports with CHARGESTREAM_KAFKA_PORT / CHARGESTREAM_KAFKA_CONTROLLER_PORT"
            )
    libs = fetch_jars(settings, quiet=True)
    java = shutil.which("java") or "java"
    java_version()
    data_dir = settings.kafka_dir / "data"
    props = settings.kafka_dir / "server.properties"
    props.parent.mkdir(parents=True, exist_ok=True)
    props.write_text(_server_properties(settings, data_dir))
    log4j = settings.kafka_dir / "log4j2.yaml"
    log4j.write_text(resources.files("chargestream").joinpath("kafka/log4j2.yaml").read_text())
    classpath = os.pathsep.join(str(p) for p in sorted(libs.glob("*.jar")))
    if not (data_dir / "meta.properties").exists():
        cluster_id = _format_storage(java, classpath, props, settings)
        (settings.kafka_dir / "cluster.id").write_text(cluster_id)
    argv = [
        java,
        f"-Xmx{settings.kafka_heap}",
        "-Xms256m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(props),
    ]
    offset = proc.log_file.stat().st_size if proc.log_file.exists() else 0
    pid = proc.start(argv)
    _wait_ready(proc, offset, timeout)
    return pid


def _format_storage(java: str, classpath: str, props: Path, settings: Settings) -> str:
    cluster_id = _random_cluster_id()
    out = subprocess.run(
        [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SetupError(
            f"formatting Kafka storage failed: {_last_error_line(out.stdout + out.stderr)}; "
            f"delete {settings.kafka_dir / 'data'} and retry"
        )
    return cluster_id


def _random_cluster_id() -> str:
    # Same form as StorageTool random-uuid: a url-safe base64 UUID without padding.
    # One in 64 starts with "-", which StorageTool's argument parser takes for an option: draw again.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _wait_ready(proc: Managed, offset: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.pid() is None:
            raise SetupError(f"the Kafka broker exited at start; see {proc.log_file}:\n{proc.log_tail()}")
        with proc.log_file.open("rb") as f:
            f.seek(offset)
            if READY_LINE.encode() in f.read():
                return
        time.sleep(0.25)
    proc.stop()
    raise SetupError(f"the Kafka broker did not start within {timeout:.0f} s; see {proc.log_file}")


def broker_version(settings: Settings) -> str:
    """The version of the jars in use, or 'external' for a configured cluster."""
    if not settings.uses_local_broker:
        return f"external cluster at {settings.bootstrap}"
    jars = sorted(jars_dir(settings).glob("kafka_2.13-*.jar"))
    return jars[0].stem.removeprefix("kafka_2.13-") if jars else "not fetched"


def stop_broker(settings: Settings) -> bool:
    return broker_process(settings).stop(timeout=30.0)
