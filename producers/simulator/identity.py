"""Simulated drivers' identities: raw tags (sent over OCPP) and the hashes a gateway makes of them."""

from __future__ import annotations

from schemas.identity import id_token_hash

# The gateway's default HMAC key: Kafka-mode hashes equal what a default gateway makes of the raw values.
ID_TOKEN_KEY = b"chargestream-dev-key"


def id_tag(seed: int, user: int) -> str:
    return f"SIM{seed % 10_000:04d}U{user:06d}"  # 1.6 idTags are at most 20 characters


def user_ref(seed: int, user: int) -> str:
    return f"sim-user-{seed}-{user}"


def keyed_hash(value: str, key: bytes = ID_TOKEN_KEY) -> str:
    return id_token_hash(value, key)
