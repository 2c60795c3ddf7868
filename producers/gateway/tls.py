"""TLS for the gateway port (OCPP security profile 2: wss:// plus HTTP Basic auth)."""

from __future__ import annotations

import ssl
from pathlib import Path

from schemas.errors import SetupError


def server_ssl_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The server context for a PEM certificate (chain) and key; None when neither is configured.

    OCPP 1.6 security whitepaper and 2.0.1 both require TLS 1.2 or newer."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SetupError(
            "TLS needs both CHARGESTREAM_GATEWAY_TLS_CERT and CHARGESTREAM_GATEWAY_TLS_KEY (PEM files)"
        )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except FileNotFoundError as exc:
        raise SetupError(f"TLS certificate or key not found: {exc.filename}") from exc
    except ssl.SSLError as exc:
        raise SetupError(f"cannot load TLS certificate {cert} with key {key}: {exc}") from exc
    return ctx
