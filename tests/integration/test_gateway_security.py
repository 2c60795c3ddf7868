"""OCPP security profiles 1 and 2: HTTP Basic auth on the upgrade (401 otherwise), and TLS (wss://)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
import websockets
from cryptography import x509  # installed with confluent-kafka[schemaregistry] (via authlib)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from producers.gateway.tls import server_ssl_context
from schemas.network import NetworkConfig, StationConfig, hash_password
from tests.integration.test_gateway_ocpp201 import events_of, running_gateway

PASSWORD = "s3cret-station-password"  # 16-40 characters, as the OCPP security profiles want


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _attempt(
    url: str, headers: dict[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
) -> tuple[int, str]:
    """(HTTP status, WWW-Authenticate) of a connection attempt; 101 when a BootNotification was accepted."""
    try:
        async with websockets.connect(
            url,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=ssl_context,
        ) as ws:
            await ws.send(
                '[2,"boot-1","BootNotification",{"reason":"PowerUp",'
                '"chargingStation":{"vendorName":"ACME","model":"AC 22"}}]'
            )
            reply = await ws.recv()
            assert '"Accepted"' in str(reply), reply
            return 101, ""
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers.get("WWW-Authenticate", "")


def _network(dev_mode: bool, u: str) -> NetworkConfig:
    hashed = hash_password(PASSWORD, iterations=1000)  # few iterations: fast tests, same code path
    return NetworkConfig(
        dev_mode=dev_mode,
        stations={f"SEC-{u}": StationConfig(password_hash=hashed), f"NOPW-{u}": StationConfig()},
    )


def test_basic_auth_profile_1(kafka_topics: str, unique: str) -> None:
    known, nopw, stranger = f"SEC-{unique}", f"NOPW-{unique}", f"WHO-{unique}"

    async def scenario() -> dict[str, tuple[int, str]]:
        async with running_gateway(kafka_topics, _network(False, unique)) as port:
            url = f"ws://127.0.0.1:{port}/ocpp/"
            return {
                "no password": await _attempt(url + known),
                "wrong password": await _attempt(url + known, _basic(known, "not-the-password")),
                "other username": await _attempt(url + known, _basic(stranger, PASSWORD)),
                "not basic": await _attempt(url + known, {"Authorization": "Bearer abc"}),
                "unknown station": await _attempt(url + stranger, _basic(stranger, PASSWORD)),
                "no hash in file": await _attempt(url + nopw, _basic(nopw, PASSWORD)),
                "right password": await _attempt(url + known, _basic(known, PASSWORD)),
                "again (cached)": await _attempt(url + known, _basic(known, PASSWORD)),
            }

    results = asyncio.run(scenario())
    for case, (status, challenge) in results.items():
        if case in ("right password", "again (cached)"):
            assert status == 101, case
        else:
            assert status == 401, case
            assert challenge.startswith("Basic "), case
    assert [e.kind for e in events_of(kafka_topics, known, 2)] == ["ConnectionChange", "StationBoot"]


def test_dev_mode_admits_unknown_stations_but_not_without_their_password(
    kafka_topics: str, unique: str
) -> None:
    known, stranger = f"SEC-{unique}", f"DEV-{unique}"

    async def scenario() -> dict[str, int]:
        async with running_gateway(kafka_topics, _network(True, unique)) as port:
            url = f"ws://127.0.0.1:{port}/ocpp/"
            return {
                "unknown, no password": (await _attempt(url + stranger))[0],
                "in the file, no password": (await _attempt(url + known))[0],
                "in the file, wrong password": (await _attempt(url + known, _basic(known, "nope")))[0],
                "in the file, right password": (await _attempt(url + known, _basic(known, PASSWORD)))[0],
            }

    assert asyncio.run(scenario()) == {
        "unknown, no password": 101,
        "in the file, no password": 401,
        "in the file, wrong password": 401,
        "in the file, right password": 101,
    }


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "gateway.crt", tmp / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_profile_2(kafka_topics: str, unique: str, tmp_path: Path) -> None:
    station = f"SEC-{unique}"
    cert, key = _self_signed(tmp_path)
    server_ctx = server_ssl_context(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> dict[str, object]:
        async with running_gateway(kafka_topics, _network(False, unique), ssl_context=server_ctx) as port:
            wss, ws = f"wss://127.0.0.1:{port}/ocpp/{station}", f"ws://127.0.0.1:{port}/ocpp/{station}"
            out: dict[str, object] = {
                "tls + password": (await _attempt(wss, _basic(station, PASSWORD), client_ctx))[0],
                "tls, no password": (await _attempt(wss, None, client_ctx))[0],
            }
            try:
                await _attempt(ws, _basic(station, PASSWORD))
                out["plain ws"] = "accepted"
            except (OSError, websockets.InvalidMessage, websockets.InvalidHandshake) as exc:
                out["plain ws"] = type(exc).__name__
            with pytest.raises(ssl.SSLCertVerificationError):
                await _attempt(wss, _basic(station, PASSWORD), ssl.create_default_context())  # untrusted cert
            return out

    out = asyncio.run(scenario())
    assert out["tls + password"] == 101 and out["tls, no password"] == 401
    assert out["plain ws"] != "accepted"
