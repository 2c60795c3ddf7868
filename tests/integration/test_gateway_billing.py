"""Real `ocpp` clients through the stack's own gateway, worker and sink: what a charger says is what
is billed, on the late path too.

A 1.6 station boots (stamped on arrival: 1.6 carries no time) and then sends sessions from its offline
queue, days old: every event is older than the boot. The first session ends with its last rising kWh
sample and SuspendedEV at one instant and stops 15 minutes later with an integer meterStop just below
the decimal last sample (repeated in transactionData); the second loses its stop (Available 20 minutes
after SuspendedEV). A 2.0.1 station reports chargingState Charging with its samples.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import websockets
import yaml
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings

DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def _t(minutes: float) -> str:
    return (DAYS_AGO + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _kwh(minutes: float, value: str) -> list[dict[str, object]]:
    return [{"timestamp": _t(minutes), "sampledValue": [{"value": value, "unit": "kWh"}]}]


async def _station_16(port: int, station: str) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = Client16(station, ws)
        reader = asyncio.create_task(cp.start())
        await cp.call(call16.BootNotification(charge_point_model="AC22", charge_point_vendor="ACME"))

        async def status(minutes: float, value: str) -> None:
            await cp.call(
                call16.StatusNotification(
                    connector_id=1, error_code="NoError", status=value, timestamp=_t(minutes)
                )
            )

        # session 1: 12.3456 kWh at the start, 20.1094 kWh (decimal) at the end, meterStop 20109
        await status(0, "Preparing")
        started = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=12_345, timestamp=_t(1))
        )
        tx = started.transaction_id
        await status(1, "Charging")
        for k, value in enumerate(["14.0001", "17.5", "20.1094"], 1):
            await cp.call(
                call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=_kwh(1 + 20 * k, value))
            )
        await status(61, "SuspendedEV")  # the same instant as the last rising sample
        data = [
            {"timestamp": _t(1), "sampledValue": [{"value": "12345", "context": "Transaction.Begin"}]},
            {"timestamp": _t(76), "sampledValue": [{"value": "20109", "context": "Transaction.End"}]},
        ]
        await cp.call(
            call16.StopTransaction(
                meter_stop=20_109,
                timestamp=_t(76),
                transaction_id=tx,
                reason="EVDisconnected",
                transaction_data=data,
            )
        )
        await status(76, "Finishing")
        await status(76.5, "Available")
        # session 2: the stop is lost; the connector goes Available 20 minutes after SuspendedEV
        await status(120, "Preparing")
        started = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG-2", meter_start=20_109, timestamp=_t(121))
        )
        tx2 = started.transaction_id
        await status(121, "Charging")
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx2, meter_value=_kwh(150, "25.109")))
        await status(150, "SuspendedEV")
        await status(170, "Available")
        await cp.call(call16.Heartbeat())  # and the station keeps talking
        reader.cancel()


async def _station_201(port: int, station: str) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        cp = Client201(station, ws)
        reader = asyncio.create_task(cp.start())
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "DC50", "vendor_name": "ACME"}, reason="PowerUp"
            )
        )

        async def event(kind: str, seq: int, minutes: float, trigger: str, wh: float, **info: str) -> None:
            await cp.call(
                call201.TransactionEvent(
                    event_type=kind,
                    timestamp=_t(minutes),
                    trigger_reason=trigger,
                    seq_no=seq,
                    transaction_info={"transaction_id": "tx-201", **info},
                    evse={"id": 1, "connector_id": 1},
                    meter_value=[{"timestamp": _t(minutes), "sampled_value": [{"value": wh}]}],
                )
            )

        await cp.call(
            call201.StatusNotification(
                timestamp=_t(0), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        await event("Started", 0, 0, "CablePluggedIn", 500_000.0, charging_state="EVConnected")
        await event("Updated", 1, 1, "ChargingStateChanged", 500_000.5, charging_state="Charging")
        await event("Updated", 2, 31, "MeterValuePeriodic", 511_000.25)
        await event("Updated", 3, 61, "ChargingStateChanged", 522_000.75, charging_state="SuspendedEV")
        await event(
            "Ended",
            4,
            90,
            "EVDeparted",
            522_000.75,
            charging_state="EVConnected",
            stopped_reason="EVDisconnected",
        )
        await cp.call(
            call201.StatusNotification(
                timestamp=_t(90), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        await cp.call(call201.Heartbeat())
        reader.cancel()


def _network(tmp_path: Path, stations: list[str]) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dev_mode": True,
                "sites": {"depot": {"time_zone": "Europe/Berlin"}},
                "stations": {
                    s: {"site_id": "depot", "max_power_kw": 22.0, "connectors": 1} for s in stations
                },
            }
        )
    )
    return path


def _bills(settings: Settings, station: str, want: int, timeout: float = 90.0) -> list[list[str]]:
    sql = (
        "SELECT toUnixTimestamp64Milli(plugged_in_at), energy_wh, idle_minutes, site_id, "
        "concat('flags:', arrayStringConcat(quality_flags, ',')) FROM chargestream.billing_records FINAL "
        f"WHERE station_id = '{station}' ORDER BY plugged_in_at"
    )
    deadline = time.monotonic() + timeout
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = [ln.split("\t") for ln in scalar(settings, sql).splitlines() if ln]
        if len(rows) >= want:
            break
        time.sleep(0.5)
    return rows


def test_chargers_through_the_gateway_are_billed_what_they_said(
    stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    s16, s201 = f"GWB16-{unique}", f"GWB201-{unique}"
    settings = stack_settings.model_copy(update={"network_file": _network(tmp_path, [s16, s201])})
    stack.up(settings, say=lambda _line: None)
    try:
        asyncio.run(_station_16(settings.gateway_port, s16))
        asyncio.run(_station_201(settings.gateway_port, s201))
        first, second = _bills(settings, s16, 2)
        (third,) = _bills(settings, s201, 1)
    finally:
        stack.down(settings, say=lambda _line: None)
    # 20109 - 12345 Wh, not twice the stop; idle from the last rise to the unplug; the site known
    assert first[1:4] == ["7764", "15.5", "depot"], first
    assert not {"meter_reset", "meter_stop_below_last"} & set(first[4].split(","))
    # the lost stop: billed at Available from the last reading, flagged
    assert second[1:4] == ["5000", "20", "depot"] and "stop_not_seen" in second[4], second
    # 2.0.1: 522000.75 - 500000 Wh; Charging was stated, not inferred
    assert third[1:3] == ["22001", "29"] and "charging_inferred" not in third[4], third
