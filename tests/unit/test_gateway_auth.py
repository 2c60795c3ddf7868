"""Station authentication decisions (pure), the verification cache, and the TLS context."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from producers.gateway.auth import (
    Credentials,
    Decision,
    StationAuthenticator,
    VerifyPassword,
    parse_basic,
    requirement,
)
from producers.gateway.tls import server_ssl_context
from schemas.errors import SetupError
from schemas.network import NetworkConfig, StationConfig, hash_password

HASH = hash_password("station-password-1", iterations=1000)
NET = NetworkConfig(stations={"CP1": StationConfig(password_hash=HASH), "CP2": StationConfig()})
DEV = NET.model_copy(update={"dev_mode": True})


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_parse_basic() -> None:
    assert parse_basic(_basic("CP1:pa:ss")) == Credentials("CP1", "pa:ss")  # only the first colon splits
    assert parse_basic("basic " + base64.b64encode(b"CP1:").decode()) == Credentials("CP1", "")
    for bad in (None, "", "Bearer xyz", "Basic", "Basic !!!", _basic("no-colon"), "Basic " + "w6g="):
        assert parse_basic(bad) is None, bad


@pytest.mark.parametrize(
    ("network", "station", "creds", "expected"),
    [
        (NET, "CP1", Credentials("CP1", "pw"), VerifyPassword("pw", HASH)),
        (NET, "CP1", None, Decision(False, "no credentials (HTTP Basic auth required)")),
        (NET, "CP1", Credentials("CP2", "pw"), Decision(False, "username 'CP2' is not the station id")),
        (
            NET,
            "CP2",
            Credentials("CP2", "pw"),
            Decision(False, "station has no password_hash in the network file"),
        ),
        (NET, "CP9", Credentials("CP9", "pw"), Decision(False, "unknown station")),
        (NET, "CP9", None, Decision(False, "unknown station")),
        (DEV, "CP9", None, Decision(True, "dev mode: station not in the file")),
        (DEV, "CP2", None, Decision(True, "dev mode: no password configured")),
        (DEV, "CP1", None, Decision(False, "no credentials (HTTP Basic auth required)")),
        (DEV, "CP1", Credentials("CP1", "x"), VerifyPassword("x", HASH)),
    ],
)
def test_requirement(
    network: NetworkConfig, station: str, creds: Credentials | None, expected: Decision | VerifyPassword
) -> None:
    assert requirement(network, station, creds) == expected


def test_successes_are_cached_failures_are_not() -> None:
    async def run() -> tuple[list[bool], int]:
        auth = StationAuthenticator(NET)
        try:
            results = [
                (await auth.authenticate("CP1", _basic(f"CP1:{pw}"))).allowed
                for pw in ("wrong", "station-password-1", "station-password-1", "wrong", "station-password-1")
            ]
            return results, auth.pbkdf2_runs
        finally:
            auth.close()

    results, runs = asyncio.run(run())
    assert results == [False, True, True, False, True]
    assert runs == 3  # two wrong ones and the first right one; the cached ones cost no pbkdf2


def test_a_changed_hash_is_verified_again() -> None:
    async def run() -> list[bool]:
        auth = StationAuthenticator(NET)
        first = (await auth.authenticate("CP1", _basic("CP1:station-password-1"))).allowed
        new_hash = hash_password("another-password-22", iterations=1000)
        auth.network = NetworkConfig(stations={"CP1": StationConfig(password_hash=new_hash)})
        old = (await auth.authenticate("CP1", _basic("CP1:station-password-1"))).allowed
        new = (await auth.authenticate("CP1", _basic("CP1:another-password-22"))).allowed
        auth.close()
        return [first, old, new]

    assert asyncio.run(run()) == [True, False, True]


def test_tls_context(tmp_path: Path) -> None:
    assert server_ssl_context(None, None) is None
    with pytest.raises(SetupError, match="both"):
        server_ssl_context(tmp_path / "c.pem", None)
    with pytest.raises(SetupError, match="not found"):
        server_ssl_context(tmp_path / "c.pem", tmp_path / "k.pem")
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(SetupError, match="cannot load"):
        server_ssl_context(tmp_path / "c.pem", tmp_path / "k.pem")
