"""`chargestream cdr SESSION_ID`: the OCPI 2.2.1 CDR of a billed session, from the store.

The bill row carries the charging periods; the tariff and the location come from the network
file, so any session can be exported at any time (not only when it closed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chargestream.query import run_query
from chargestream.settings import Settings
from schemas.errors import SetupError
from schemas.network import load_network
from schemas.records import COST_PREFIX, SessionRecord
from streams.billing import StationInfo, cdr
from streams.policy import policy_from_network


def bill_from_row(row: dict[str, Any]) -> SessionRecord:
    """A billing_records row (JSONEachRow: times as text, 64-bit integers and decimals as strings) as
    the bill record it was written from."""
    bill = {**row, "state": "closed", "is_final": True, "record_type": "bill"}
    for key in ("energy_wh", "connector_id", "version"):
        bill[key] = int(row[key])
    for key, value in row.items():
        if key.endswith("_at") and isinstance(value, str):
            bill[key] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        elif key.startswith(COST_PREFIX):
            bill[key] = Decimal(str(value))
    return SessionRecord.from_dict(bill)


def export_cdr(settings: Settings, session_id: str) -> dict[str, Any]:
    if not session_id.replace("-", "").isalnum():
        raise SetupError(f"{session_id!r} is not a session id (a UUID from billing_records.session_id)")
    out = run_query(
        settings,
        f"SELECT * FROM chargestream.billing_records FINAL WHERE session_id = '{session_id}' LIMIT 1",
        fmt="JSONEachRow",
    ).strip()
    if not out:
        raise SetupError(f"no bill for session {session_id}: see `chargestream sql` on billing_records")
    bill = bill_from_row(json.loads(out.splitlines()[0]))
    network = load_network(settings.network_path)
    meta = network.metadata(bill.station_id)
    site_id = bill.site_id or meta.site_id
    site = network.sites.get(site_id or "")
    info = StationInfo(
        site_id=site_id,
        time_zone=site.time_zone if site else meta.time_zone,
        latitude=meta.latitude,
        longitude=meta.longitude,
    )
    return cdr(bill, info, policy_from_network(network))
