"""One charging session sent with the producer SDK: `python -m producers.sdk.example --bootstrap host:port`.

Boot with metadata, Preparing, transaction start, meter readings every 5 minutes (the register in
kWh as the meter reports it, power, per-phase registers), stop, Available. Message ids come from
"your" gateway, so running it twice produces the same event ids (a re-send, not new events).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from producers import sdk
from schemas.events import ChargerEvent


def session_events(station_id: str, start: datetime) -> list[ChargerEvent]:
    tx = f"{station_id}-tx-1"
    token = sdk.hash_id_token("DRIVER-CARD-42", b"my-gateway-key")
    register_wh = 1_250_000  # lifetime register at plug-in
    events = [
        sdk.boot(
            station_id,
            start,
            vendor="ACME",
            model="Wallbox 22",
            firmware_version="1.4.2",
            site_id="depot-north",
            time_zone="Europe/Berlin",
            latitude=52.52,
            longitude=13.405,
            max_power_kw=22.0,
            connectors=2,
            message_id="boot-1",
        ),
        sdk.status(station_id, 1, start, "Preparing", message_id="st-1"),
        sdk.transaction_started(
            station_id, 1, start, tx, meter_start_wh=register_wh, id_token_hash=token, message_id="tx-start"
        ),
        sdk.status(station_id, 1, start, "Charging", message_id="st-2"),
    ]
    for k in range(1, 7):
        at = start + timedelta(minutes=5 * k)
        register_wh += 916  # 11 kW for 5 minutes
        events.append(
            sdk.meter_values(
                station_id,
                1,
                at,
                register_kwh=f"{register_wh / 1000:.3f}",  # kWh string, converted to Wh exactly
                power_w=11_000,
                phases_wh={
                    "L1": register_wh // 3,
                    "L2": register_wh // 3,
                    "L3": register_wh - 2 * (register_wh // 3),
                },
                transaction_id=tx,
                message_id=f"mv-{k}",
            )
        )
    end = start + timedelta(minutes=35)
    events += [
        sdk.status(station_id, 1, end, "Finishing", message_id="st-3"),
        sdk.transaction_ended(
            station_id,
            1,
            end,
            tx,
            meter_stop_wh=register_wh,
            stopped_reason="EVDisconnected",
            message_id="tx-end",
        ),
        sdk.status(station_id, 1, end + timedelta(seconds=20), "Available", message_id="st-4"),
    ]
    return events


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    ap.add_argument("--registry-url", default=None, help="Confluent schema registry (default: embedded ids)")
    ap.add_argument("--station", default="SDK-EXAMPLE-1")
    args = ap.parse_args(argv)

    def delivered(ev: ChargerEvent, error: str | None) -> None:
        print(f"{ev.kind:17} {ev.event_id}  {'FAILED: ' + error if error else 'ok'}")

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with sdk.ChargerEventProducer(args.bootstrap, registry_url=args.registry_url, on_delivery=delivered) as p:
        for ev in session_events(args.station, start):
            p.send(ev)
        report = p.flush()
    print(f"{report.delivered} events delivered to charger.events, {report.failed} failed")


if __name__ == "__main__":
    main()
