"""Opening ClickHouse through clickhouse-connect: the embedded engine (chdb://) or a server (http://)."""

from __future__ import annotations

from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from schemas.errors import SetupError


def connect(dsn: str, **kwargs: Any) -> Client:
    try:
        return clickhouse_connect.get_client(dsn=dsn, **kwargs)
    except Exception as exc:
        text = str(exc)
        if dsn.startswith("chdb:") and ("lock" in text.lower() or "used by another" in text.lower()):
            raise SetupError(
                f"the ClickHouse store {dsn} is open in another process (the stack's sink?): "
                "query through `chargestream sql` while the stack runs, or `chargestream down` first"
            ) from exc
        raise SetupError(
            f"cannot open ClickHouse at {dsn}: {text.splitlines()[0] if text else exc!r}"
        ) from exc
