"""How a raw idTag (or a driver reference) becomes what the contract carries: a keyed HMAC."""

from __future__ import annotations

import hashlib
import hmac


def id_token_hash(token: str, key: bytes) -> str:
    """32 hex characters of HMAC-SHA256: stable per key, so sessions of one driver group together,
    and useless without the key, which only the gateway (or the producer that hashes) holds."""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]
