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
from streams.billing import StationInfo, cdr
from streams.policy import policy_from_network

_TIMES = ("plugged_in_at", "charging_started_at", "charging_ended_at", "unplugged_at", "emitted_at")


def _ms(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def bill_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A billing_records row (JSONEachRow) as the session record it was written from."""
    bill = dict(row)
    for key in _TIMES:
        bill[key] = _ms(row.get(key))
    for key in ("energy_wh", "connector_id", "version"):
        bill[key] = int(row[key])
    for key in ("cost_energy", "cost_time", "cost_parking", "cost_flat", "cost_total", "cost_total_incl_vat"):
        bill[key] = Decimal(str(row.get(key, 0)))
    return bill


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
    meta = network.metadata(bill["station_id"])
    site_id = bill.get("site_id") or meta.site_id
    site = network.sites.get(site_id or "")
    info = StationInfo(
        site_id=site_id,
        time_zone=site.time_zone if site else meta.time_zone,
        latitude=meta.latitude,
        longitude=meta.longitude,
    )
    return cdr(bill, info, policy_from_network(network))
