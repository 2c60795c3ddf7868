"""Each process of the local stack gets only the secrets it needs (issue #10 §1)."""

from __future__ import annotations

import pytest

from chargestream.settings import Settings
from chargestream.stack import child_env


def test_only_the_gateway_gets_the_id_token_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_ID_TOKEN_KEY", "s3cret-from-env")
    settings = Settings(clickhouse_url="http://user:pw@ch:8123")
    envs = {c: child_env(settings, c) for c in ("gateway", "worker", "sink")}
    assert envs["gateway"]["CHARGESTREAM_ID_TOKEN_KEY"] == "s3cret-from-env"
    for component in ("worker", "sink"):
        assert "CHARGESTREAM_ID_TOKEN_KEY" not in envs[component]
        assert "s3cret-from-env" not in "".join(envs[component].values())
    assert envs["sink"]["CHARGESTREAM_CLICKHOUSE_URL"] == "http://user:pw@ch:8123"
    assert "pw@" not in "".join(envs["gateway"].values()) + "".join(envs["worker"].values())
    # everything else is explicit for every component, so they agree with the CLI
    assert all(env["CHARGESTREAM_KAFKA_PORT"] == str(settings.kafka_port) for env in envs.values())
