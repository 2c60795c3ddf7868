"""Session records for the `sessions` topic, and the bill: OCPI charging periods priced. Pure.

A record is an `update` (lifecycle), a `bill` (the final record: what the driver pays) or a
`credit` (cancels an issued bill that a late event changed; a new bill follows it). Costs are
excluding VAT per component, with the total also including VAT; money is Decimal to 4 places.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from schemas.events import MINUTE_MS
from schemas.records import Costs, SessionRecord
from streams.energy import DEFAULT_MAX_POWER_W, reachable_mwh
from streams.policy import Policy
from streams.session_model import IDLE, Session
from streams.tariffs import ChargingPeriod, TariffNotActiveError, cdr_totals, parse_tariff, price_session
from streams.tariffs.session import CdrDimension, CdrDimensionType

_MWH_PER_KWH: Final = Decimal(1_000_000)
_MS_PER_H: Final = Decimal(3_600_000)
DEFAULT_CURRENCY: Final = "EUR"


@dataclass(frozen=True, slots=True)
class StationInfo:
    """What the engine knows of a station (from its boot event and the network file)."""

    site_id: str | None = None
    time_zone: str = "UTC"
    max_power_kw: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def charging_periods(sess: Session, end: int) -> list[ChargingPeriod]:
    """The session as OCPI charging periods: energy (kWh) and TIME or PARKING_TIME (hours)."""
    out: list[ChargingPeriod] = []
    nexts = [p.start for p in sess.periods[1:]] + [end]
    for p, stop in zip(sess.periods, nexts, strict=True):
        hours = Decimal(max(0, stop - p.start)) / _MS_PER_H
        dims = [CdrDimension(CdrDimensionType.ENERGY, Decimal(p.energy_mwh) / _MWH_PER_KWH)]
        dims.append(
            CdrDimension(CdrDimensionType.TIME if p.charging else CdrDimensionType.PARKING_TIME, hours)
        )
        out.append(ChargingPeriod(datetime.fromtimestamp(p.start / 1000, UTC), tuple(dims)))
    return out


def periods_json(periods: list[ChargingPeriod]) -> str:
    return json.dumps(
        [
            {
                "start_date_time": p.start_date_time.isoformat().replace("+00:00", "Z"),
                "dimensions": [{"type": d.type.value, "volume": str(d.volume)} for d in p.dimensions],
            }
            for p in periods
        ]
    )


def bill_flags(sess: Session, end: int, policy: Policy, info: StationInfo | None = None) -> set[str]:
    """Why a closed session is recorded but not billed (DOMAIN.md pitfall 13), or held for review:
    more energy than the station's rated power can deliver in the time it was plugged in is a meter
    or gateway fault, never a bill to send as is."""
    rated_w = (
        info.max_power_kw * 1000 * 1.1 if info is not None and info.max_power_kw else DEFAULT_MAX_POWER_W
    )
    if sess.meter.energy_mwh > reachable_mwh(end - sess.plugged_in_at, rated_w):
        return {"not_billable", "held_for_review", "implausible_energy"}
    if sess.meter.energy_wh == 0:
        return {"not_billable", "zero_energy"}
    if end - sess.plugged_in_at < policy.min_billable_ms or sess.meter.energy_wh < policy.min_billable_wh:
        return {"not_billable", "short_session"}
    return set()


def _costs(sess: Session, end: int, info: StationInfo, policy: Policy, flags: set[str]) -> tuple[Costs, str]:
    tariff = policy.tariffs.get(sess.tariff_id or "")
    zero = Costs()
    if tariff is None:
        return zero, DEFAULT_CURRENCY
    if "not_billable" in flags:
        return zero, tariff.currency
    try:
        result = price_session(
            tariff, charging_periods(sess, end), datetime.fromtimestamp(end / 1000, UTC), info.time_zone
        )
    except TariffNotActiveError:
        flags.add("tariff_not_active")
        return zero, tariff.currency
    t = cdr_totals(result)

    def excl(key: str) -> Decimal:
        money: dict[str, Decimal] = t[key]  # type: ignore[assignment]
        return money["excl_vat"]

    total: dict[str, Decimal] = t["total_cost"]  # type: ignore[assignment]
    return Costs(
        energy=excl("total_energy_cost"),
        time=excl("total_time_cost"),
        parking=excl("total_parking_cost"),
        flat=excl("total_fixed_cost"),
        total=total["excl_vat"],
        total_incl_vat=total["incl_vat"],
    ), tariff.currency


def session_record(
    sess: Session, at: int, info: StationInfo, policy: Policy, *, kind: str = "update"
) -> SessionRecord:
    """The session's record as of ``at``; ``kind`` "bill" prices it (the session is closed). The
    connector's ledger gives it its version."""
    final = kind == "bill"
    end = sess.unplugged_at if sess.unplugged_at is not None else at
    idle_ms = sess.idle_ms + (max(0, end - sess.idle_since) if sess.phase == IDLE and sess.idle_since else 0)
    flags = set(sess.quality_flags)
    if final:
        flags |= bill_flags(sess, end, policy, info)
        costs, currency = _costs(sess, end, info, policy, flags)
        periods = periods_json(charging_periods(sess, end))
    else:
        costs, periods = Costs(), "[]"
        tariff = policy.tariffs.get(sess.tariff_id or "")
        currency = tariff.currency if tariff is not None else DEFAULT_CURRENCY
    return SessionRecord(
        session_id=sess.session_id,
        record_type=kind,
        state=sess.phase,
        is_final=final,
        station_id=sess.station_id,
        connector_id=sess.connector_id,
        site_id=info.site_id,
        transaction_id=sess.transaction_id,
        id_token_hash=sess.id_token_hash,
        tariff_id=sess.tariff_id,
        plugged_in_at=sess.plugged_in_at,
        charging_started_at=sess.charging_started_at,
        charging_ended_at=sess.charging_ended_at,
        unplugged_at=sess.unplugged_at,
        energy_wh=sess.meter.energy_wh,
        charging_minutes=sess.charging_ms(end) / MINUTE_MS,
        idle_minutes=idle_ms / MINUTE_MS,
        max_power_kw=round(sess.max_power_w / 1000, 3),
        costs=costs,
        currency=currency,
        stop_reason=sess.stop_reason if final else None,
        quality_flags=tuple(sorted(flags)),
        charging_periods=periods,
        priced_with=priced_with(sess.tariff_id, info, policy) if final else "",
        emitted_at=at,
    )


def priced_with(tariff_id: str | None, info: StationInfo, policy: Policy) -> str:
    """What a bill was priced with, kept in the bill: the tariff as configured then, and the time
    zone its time restrictions were read in. A CDR re-prices from this, never from today's file."""
    raw = policy.tariff_json.get(tariff_id or "")
    if raw is None:
        return ""
    return json.dumps({"tariff": raw, "time_zone": info.time_zone}, sort_keys=True, separators=(",", ":"))


def cdr(bill: SessionRecord, info: StationInfo, policy: Policy) -> dict[str, Any]:
    """An OCPI 2.2.1 CDR object for a bill record, from the record alone: the tariff and time zone
    it was priced with travel in the bill (``priced_with``); ``policy`` serves only bills from before
    they did (sessions v2), priced with the tariff configured today."""
    from streams.tariffs import parse_charging_periods

    periods = parse_charging_periods(json.loads(bill.charging_periods or "[]"))
    snapshot = json.loads(bill.priced_with or "{}")
    if snapshot:
        raw_tariff: dict[str, Any] = snapshot["tariff"]
        time_zone: str = snapshot["time_zone"]
    else:
        configured = policy.tariffs.get(bill.tariff_id or "")
        raw_tariff = policy_tariff_json(policy, configured.id) if configured else {}
        time_zone = info.time_zone
    tariff = parse_tariff(raw_tariff) if raw_tariff else None
    end = bill.unplugged_at or bill.emitted_at
    doc: dict[str, Any] = {
        "country_code": raw_tariff.get("country_code"),
        "party_id": raw_tariff.get("party_id"),
        "id": bill.session_id,
        "start_date_time": _iso(bill.plugged_in_at),
        "end_date_time": _iso(end),
        "session_id": bill.session_id,
        "cdr_token": {
            "uid": bill.id_token_hash or "unknown",
            "type": "RFID",
            "contract_id": bill.id_token_hash or "unknown",
        },
        "auth_method": "AUTH_REQUEST",
        "cdr_location": {
            "id": info.site_id or bill.station_id,
            "coordinates": {"latitude": str(info.latitude), "longitude": str(info.longitude)}
            if info.latitude is not None and info.longitude is not None
            else None,
            "evse_uid": f"{bill.station_id}*{bill.connector_id}",
            "connector_id": str(bill.connector_id),
        },
        "currency": bill.currency,
        "tariffs": [raw_tariff] if tariff else [],
        "charging_periods": [
            {
                "start_date_time": p.start_date_time.isoformat().replace("+00:00", "Z"),
                "dimensions": [{"type": d.type.value, "volume": float(d.volume)} for d in p.dimensions],
                **({"tariff_id": tariff.id} if tariff else {}),
            }
            for p in periods
        ],
        "total_energy": bill.energy_wh / 1000,
        "total_time": bill.charging_minutes / 60 + bill.idle_minutes / 60,
        "last_updated": _iso(bill.emitted_at),
    }
    if tariff is not None and periods and "not_billable" not in bill.quality_flags:
        result = price_session(tariff, periods, datetime.fromtimestamp(end / 1000, UTC), time_zone)
        totals = cdr_totals(result)
        for key, value in totals.items():
            doc[key] = (
                {k: float(v) for k, v in value.items()} if isinstance(value, dict) else float(value)  # type: ignore[arg-type]
            )
    else:
        zero = {"excl_vat": 0.0, "incl_vat": 0.0}
        doc.update(total_cost=zero, total_energy_cost=zero, total_time_cost=zero, total_parking_cost=zero)
    return doc


def policy_tariff_json(policy: Policy, tariff_id: str) -> dict[str, Any]:
    raw = policy.tariff_json.get(tariff_id)
    return dict(raw) if raw is not None else {"id": tariff_id}
