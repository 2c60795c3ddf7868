"""compose.yaml and the Dockerfile checked against the code, so they cannot drift from it.

No Docker needed: the files are parsed, not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chargestream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "CHARGESTREAM_"
SERVICES = {"kafka", "clickhouse", "topics", "gateway", "worker", "sink"}


@cache
def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict), "compose.yaml is not a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services")
    assert isinstance(services, dict), "compose.yaml has no services mapping"
    return services


def _service(name: str) -> dict[str, Any]:
    services = _services()
    assert name in services, f"compose.yaml has no service {name!r}"
    return services[name]


def _chargestream_services() -> dict[str, dict[str, Any]]:
    """The services built from the project's Dockerfile."""
    return {name: svc for name, svc in _services().items() if "build" in svc}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), f"no command in {service}"
    return [str(part) for part in command]


def _published(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs from short ("[ip:]host:container") or long port syntax."""
    pairs: set[tuple[int, int]] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            *_, host, container = str(port).split("/")[0].split(":")
            pairs.add((int(host), int(container)))
    return pairs


def _default(field: str) -> Any:
    """A Settings field's default as written in the code (not as overridden by this shell's env)."""
    return Settings.model_fields[field].default


def _settings_fields_as_env() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def _listener_ports(listeners: str) -> dict[str, int]:
    """Map listener names to ports: "PLAINTEXT://:9092,CONTROLLER://:9093" -> {"PLAINTEXT": 9092, ...}."""
    ports: dict[str, int] = {}
    for listener in listeners.split(","):
        name, _, address = listener.strip().partition("://")
        ports[name] = int(address.rsplit(":", 1)[1])
    return ports


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_all_services_exist() -> None:
    missing = SERVICES - set(_services())
    assert not missing, f"compose.yaml lacks services {sorted(missing)}"
    assert set(_chargestream_services()) == {"topics", "gateway", "worker", "sink"}


def test_every_chargestream_env_var_is_a_settings_field() -> None:
    used = {
        (name, key) for name, svc in _services().items() for key in _env(svc) if key.startswith(ENV_PREFIX)
    }
    assert used, "no CHARGESTREAM_* variables found in compose.yaml"
    unknown = sorted(f"{name}: {key}" for name, key in used if key not in _settings_fields_as_env())
    assert not unknown, f"not fields of chargestream.settings.Settings (typo?): {unknown}"


def test_chargestream_services_share_the_common_env() -> None:
    common = _compose().get("x-chargestream-env")
    assert isinstance(common, dict) and common, "compose.yaml lacks the x-chargestream-env anchor"
    common = {str(k): str(v) for k, v in common.items()}
    for name, svc in _chargestream_services().items():
        env = _env(svc)
        differing = {k: env.get(k) for k, v in common.items() if env.get(k) != v}
        assert not differing, f"{name} does not carry x-chargestream-env: {differing}"


@pytest.mark.parametrize("name", ["topics", "gateway", "worker", "sink"])
def test_service_env_validates_as_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    env = _env(_service(name))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # raises on a value of the wrong type
    assert settings.bootstrap == env[ENV_PREFIX + "KAFKA_BOOTSTRAP"]
    assert not settings.uses_local_broker
    if name == "sink":  # the only service that opens ClickHouse (and so the only one with its password)
        assert not settings.uses_embedded_clickhouse, f"{name} would use the embedded chdb store"


def test_kafka_bootstrap_is_the_in_network_listener() -> None:
    kafka_env = _env(_service("kafka"))
    for name, svc in _chargestream_services().items():
        bootstrap = _env(svc).get(ENV_PREFIX + "KAFKA_BOOTSTRAP")
        assert bootstrap, f"{name} has no CHARGESTREAM_KAFKA_BOOTSTRAP"
        host, _, port = bootstrap.rpartition(":")
        assert host == "kafka", f"{name}: bootstrap {bootstrap} is not the kafka service"
        listeners = _listener_ports(kafka_env["KAFKA_LISTENERS"])
        assert int(port) in listeners.values(), f"{name}: port {port} is not in KAFKA_LISTENERS {listeners}"
        listener = next(n for n, p in listeners.items() if p == int(port))
        advertised = dict(
            item.strip().split("://", 1) for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
        assert advertised.get(listener) == f"kafka:{port}", (
            f"listener {listener} is advertised as {advertised.get(listener)}, unreachable from {name}"
        )


def test_clickhouse_url_points_at_the_clickhouse_service() -> None:
    ch_env = _env(_service("clickhouse"))
    for name, svc in _chargestream_services().items():
        if name != "sink":
            continue
        url = urlsplit(_env(svc).get(ENV_PREFIX + "CLICKHOUSE_URL", ""))
        assert url.scheme == "http", f"{name}: CHARGESTREAM_CLICKHOUSE_URL is not http(s): {url.geturl()!r}"
        assert url.hostname == "clickhouse"
        assert url.port == 8123 == _default("query_port")
        assert url.username == ch_env["CLICKHOUSE_USER"]
        assert url.password == ch_env["CLICKHOUSE_PASSWORD"]


def test_published_ports_match_settings_defaults() -> None:
    gateway = _service("gateway")
    gateway_port = int(_env(gateway).get(ENV_PREFIX + "GATEWAY_PORT", _default("gateway_port")))
    assert (_default("gateway_port"), gateway_port) in _published(gateway)
    assert _default("gateway_port") == 8180
    assert (_default("query_port"), 8123) in _published(_service("clickhouse"))


def test_kafka_image_is_the_settings_kafka_version() -> None:
    image = _service("kafka")["image"]
    name, _, tag = image.rpartition(":")
    assert name == "apache/kafka"
    assert tag == _default("kafka_version"), f"{image} vs Settings.kafka_version {_default('kafka_version')}"


def test_healthy_conditions_have_healthchecks() -> None:
    for name, svc in _services().items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on should carry conditions"
        for target, spec in depends.items():
            assert target in _services(), f"{name} depends on unknown service {target}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in _service(target), (
                    f"{name} waits for {target}, which has no healthcheck"
                )
    for name in ("gateway", "worker", "sink"):
        topics = _service(name).get("depends_on", {}).get("topics", {})
        assert topics.get("condition") == "service_completed_successfully", f"{name} must wait for topics"
    assert _service("sink")["depends_on"]["clickhouse"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["worker", "sink", "gateway"])
def test_commands_serve_the_service_through_chargestream(service: str) -> None:
    """Services are composed in one place (chargestream/serve.py): compose runs exactly that."""
    from chargestream.serve import SERVICES

    command = _command(_service(service))
    assert command[:3] == ["python", "-m", "chargestream.cli"], command
    assert command[3:] == ["serve", service] and service in SERVICES
    assert importlib.util.find_spec("chargestream.cli") is not None


def test_worker_state_is_on_a_named_volume() -> None:
    state_dir = _compose()["x-chargestream-env"][ENV_PREFIX + "STATE_DIR"]
    named = set(_compose().get("volumes") or {})
    mounts = {}
    for mount in _service("worker").get("volumes", []):
        if isinstance(mount, dict):
            mounts[mount["target"]] = mount.get("source")
        else:
            source, target = str(mount).split(":")[:2]
            mounts[target] = source
    assert mounts.get(state_dir) in named, f"worker's {state_dir} is not on a named volume: {mounts}"


def test_dockerfile_copies_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages, "no packages in [tool.setuptools.packages.find] include"
    copied: set[str] = set()
    for keyword, args in _dockerfile_instructions():
        if keyword == "COPY":
            *sources, _dest = [a for a in args.split() if not a.startswith("--")]
            copied.update(s.rstrip("/") for s in sources)
    missing = (packages | {"pyproject.toml", "README.md"}) - copied
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"


def test_dockerfile_state_dir_matches_compose() -> None:
    instructions = _dockerfile_instructions()
    env_lines = " ".join(args for keyword, args in instructions if keyword == "ENV")
    state_dir = _compose()["x-chargestream-env"][ENV_PREFIX + "STATE_DIR"]
    assert f"{ENV_PREFIX}STATE_DIR={state_dir}" in env_lines
    volumes = " ".join(args for keyword, args in instructions if keyword == "VOLUME")
    assert state_dir in volumes, f"the Dockerfile does not declare {state_dir} a VOLUME"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the image must run as a non-root user"


def test_each_secret_is_given_only_to_the_services_that_need_it() -> None:
    from chargestream.stack import SECRETS

    for name, svc in _chargestream_services().items():
        for secret, holders in SECRETS.items():
            key = f"{ENV_PREFIX}{secret.upper()}"
            assert (key in _env(svc)) <= (name in holders), f"{name} gets {key}"
    assert f"{ENV_PREFIX}ID_TOKEN_KEY" in _env(_service("gateway"))
    assert f"{ENV_PREFIX}CLICKHOUSE_URL" in _env(_service("sink"))
