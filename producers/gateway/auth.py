"""Station authentication: OCPP security profiles 1 and 2 (HTTP Basic on the WebSocket upgrade).

The username is the station id (the last path segment), the password is checked against the
pbkdf2 hash in the stations file. The decision is pure (`requirement`); only the slow pbkdf2 check
runs in a thread, and a success is remembered so reconnects cost a SHA-256, not 100k iterations.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from schemas.network import NetworkConfig, verify_password


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyPassword:
    """The password must match this stored hash (the only decision that needs pbkdf2)."""

    password: str
    stored_hash: str


def parse_basic(header: str | None) -> Credentials | None:
    """`Authorization: Basic base64(user:password)`; None when absent or not Basic."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return Credentials(user, password) if sep else None


def requirement(
    network: NetworkConfig, station_id: str, creds: Credentials | None
) -> Decision | VerifyPassword:
    """What it takes for `station_id` to connect with `creds`.

    - a station in the file with a password_hash needs that password (dev mode or not);
    - a station in the file without one, or missing from it, gets in only in dev mode;
    - credentials, when given, must name the station (username = station id)."""
    if creds is not None and creds.username != station_id:
        return Decision(False, f"username {creds.username!r} is not the station id")
    station = network.stations.get(station_id)
    if station is not None and station.password_hash:
        if creds is None:
            return Decision(False, "no credentials (HTTP Basic auth required)")
        return VerifyPassword(creds.password, station.password_hash)
    if network.dev_mode:
        return Decision(
            True, "dev mode: " + ("no password configured" if station else "station not in the file")
        )
    if station is None:
        return Decision(False, "unknown station")
    return Decision(False, "station has no password_hash in the network file")


class StationAuthenticator:
    def __init__(self, network: NetworkConfig) -> None:
        self.network = network
        # station id → (stored hash, SHA-256 of the password that matched it)
        self._verified: dict[str, tuple[str, bytes]] = {}
        # pbkdf2 is deliberately slow: its own small pool, so it cannot starve ocpp's schema validation.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pbkdf2")
        self.pbkdf2_runs = 0

    async def authenticate(self, station_id: str, authorization: str | None) -> Decision:
        need = requirement(self.network, station_id, parse_basic(authorization))
        if isinstance(need, Decision):
            return need
        fingerprint = hashlib.sha256(need.password.encode()).digest()
        cached = self._verified.get(station_id)
        if (
            cached is not None
            and cached[0] == need.stored_hash
            and hmac.compare_digest(cached[1], fingerprint)
        ):
            return Decision(True, "password (cached)")
        self.pbkdf2_runs += 1
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, verify_password, need.password, need.stored_hash)
        if not ok:
            return Decision(False, "wrong password")
        self._verified[station_id] = (need.stored_hash, fingerprint)
        return Decision(True, "password")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
