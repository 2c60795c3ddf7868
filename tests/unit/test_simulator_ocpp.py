"""What the simulator's OCPP 1.6 clients send: valid frames that carry the canonical events back."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, _validate_payload
from ocpp.v16 import call

from producers.gateway.normalize import meter_values as normalize_meter_values
from producers.gateway.normalize import parse_time
from producers.simulator import FleetConfig, IncidentRates, Pitfalls, run
from producers.simulator.ocpp16_frames import Link, iso, to_call16
from schemas.events import ConnectionChange, MeterValues, StatusChange, TransactionEvent


def test_iso_times_parse_back_exactly() -> None:
    for ms in (0, 1_793_491_200_123, 3_600_000 * 5 + 7):
        assert parse_time(iso(ms)) == ms


def test_every_event_becomes_a_schema_valid_call_that_normalises_back() -> None:
    sim = run(
        FleetConfig(
            stations=4,
            seed=13,
            meter_interval_s=600,
            pitfalls=Pitfalls().scaled(10),
            incidents=IncidentRates().scaled(20),
        )
    )
    tx_ids: dict[str, int] = {}
    seen: set[str] = set()
    for n, ev in enumerate(sim.events):
        frame = to_call16(ev, tx_ids)
        if isinstance(ev.payload, ConnectionChange):
            assert frame is (Link.UP if ev.payload.connected else Link.DOWN)
            continue
        if frame is None:
            continue
        name = type(frame).__name__
        seen.add(name)
        payload = remove_nones(snake_to_camel_case(serialize_as_dict(frame)))
        _validate_payload(Call(str(n), name, payload), "1.6")  # raises on a schema violation
        p = ev.payload
        if isinstance(frame, call.StartTransaction):
            assert isinstance(p, TransactionEvent)
            tx_ids[p.transaction_id] = n + 1
            assert frame.meter_start == p.meter_wh and parse_time(frame.timestamp) == ev.station_time
        elif isinstance(frame, call.StatusNotification):
            assert isinstance(p, StatusChange) and frame.status == p.status
        elif isinstance(frame, call.MeterValues | call.StopTransaction):
            assert isinstance(p, MeterValues | TransactionEvent)
            entries = (
                frame.meter_value if isinstance(frame, call.MeterValues) else frame.transaction_data or []
            )
            snake = [{"timestamp": e["timestamp"], "sampled_value": e["sampledValue"]} for e in entries]
            assert (
                normalize_meter_values(snake, "1.6") == p.samples
            )  # the gateway reads back the same samples
    assert seen == {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    }


def test_every_event_becomes_schema_valid_201_calls_that_normalise_back() -> None:
    from ocpp.charge_point import camel_to_snake_case
    from ocpp.v201 import call as call201

    from producers.gateway.v201.normalize import transaction_event_201
    from producers.simulator.ocpp201_frames import Converter201

    sim = run(
        FleetConfig(
            stations=4,
            seed=14,
            meter_interval_s=600,
            pitfalls=Pitfalls().scaled(10),
            incidents=IncidentRates().scaled(20),
        )
    )
    conv = Converter201()
    seen: set[str] = set()
    seqs: dict[str, list[int]] = {}
    for n, ev in enumerate(sim.events):
        for k, frame in enumerate(conv.frames(ev)):
            if isinstance(frame, Link):
                continue
            name = type(frame).__name__
            seen.add(name)
            payload = remove_nones(snake_to_camel_case(serialize_as_dict(frame)))
            _validate_payload(Call(f"{n}.{k}", name, payload), "2.0.1")
            if isinstance(frame, call201.TransactionEvent):
                p = ev.payload
                back = transaction_event_201(camel_to_snake_case(payload), None)
                seqs.setdefault(back.transaction_id, []).append(back.seq_no or 0)
                if isinstance(p, TransactionEvent | MeterValues):
                    assert back.transaction_id == p.transaction_id
                    # numbers and units read back to the same Wh (a JSON number drops trailing zeros)
                    assert [replace(x, raw_value="") for x in back.samples] == [
                        replace(x, raw_value="") for x in p.samples
                    ]
                    assert [Decimal(x.raw_value) for x in back.samples] == [
                        Decimal(x.raw_value) for x in p.samples
                    ]
                else:  # a status that is a charging state in 2.0.1
                    assert isinstance(p, StatusChange) and back.charging_state
    assert seen == {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "TransactionEvent",
        "NotifyEvent",
    }
    for tx, numbers in seqs.items():  # seqNo counts up per transaction; only a re-sent Started repeats
        assert sorted(set(numbers)) == list(range(len(set(numbers)))), tx
