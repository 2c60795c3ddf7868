from __future__ import annotations

import struct
from decimal import Decimal

import pytest

from schemas.codec import DecodeError, EmbeddedCodec, RegistryCodec
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    MeterValues,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
    from_record,
    to_record,
)

T0 = 1_793_491_200_123
SAMPLE = SampledValue(T0, "Wh", 1234.5, "1.2345", phase="L1", context="Sample.Clock", raw_unit="kWh")
PAYLOADS = [
    MeterValues((SAMPLE,), transaction_id="tx-1"),
    StatusChange("Faulted", error_code="GroundFailure", vendor_error_code="E42", info="rcd"),
    TransactionEvent(
        "Ended",
        "tx-1",
        seq_no=7,
        charging_state="EVConnected",
        stopped_reason="EVDisconnected",
        id_token_hash="ab12",
        meter_wh=99_000.0,
        offline=True,
        samples=(SAMPLE,),
    ),
    StationBoot(
        "ACME",
        "Wallbox 22",
        firmware_version="1.2.3",
        serial_number="SN1",
        site_id="S1",
        time_zone="Europe/Berlin",
        latitude=52.5,
        longitude=13.4,
        max_power_kw=22.0,
        connectors=2,
    ),
    Heartbeat(),
    ConnectionChange(False, reason="ping timeout"),
    FaultNotice("Connector", "Problem", tech_code="OV", severity=2, cleared=True),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_every_payload_round_trips_through_the_wire_format(payload: object) -> None:
    codec = EmbeddedCodec()
    ev = ChargerEvent("e-1", "ST-1", 2, T0, T0 + 40, "ocpp1.6", payload, evse_id=1, message_id="m-9")  # type: ignore[arg-type]
    data = codec.encode("charger.events", to_record(ev))
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert (magic, schema_id) == (0, 1002)
    assert from_record(codec.decode("charger.events", data)) == ev


def test_v1_events_written_before_station_metadata_still_decode() -> None:
    import io

    import fastavro

    from schemas.codec import load_schema

    v1 = fastavro.parse_schema(load_schema("charger_event_v1.avsc"))
    boot = StationBoot("ACME", "Wallbox 22", firmware_version="1.2.3")
    ev = ChargerEvent("e-1", "ST-1", 0, T0, T0, "ocpp1.6", boot)
    rec = to_record(ev)
    name, body = rec["payload"]
    rec["payload"] = (
        name,
        {k: body[k] for k in ("vendor", "model", "firmware_version", "serial_number", "reason")},
    )
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, 1001))
    fastavro.schemaless_writer(buf, v1, rec)
    decoded = from_record(EmbeddedCodec().decode("charger.events", buf.getvalue()))
    assert decoded == ev and isinstance(decoded.payload, StationBoot) and decoded.payload.site_id is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x00\x03\xe9abc", "magic byte"),
        (b"\x00\x00\x00\x99\x99abc", "unknown schema id"),
        (b"\x00\x00\x00\x03\xe9\xff\xff\xff\xff\xff\xff", "corrupt Avro"),
    ],
)
def test_bad_bytes_raise_decode_error_with_reason(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        EmbeddedCodec().decode("charger.events", data)


def test_session_record_keeps_exact_decimals() -> None:
    codec = EmbeddedCodec()
    zero = Decimal("0.0000")
    rec = {
        "session_id": "s",
        "version": 3,
        "state": "closed",
        "is_final": True,
        "station_id": "ST",
        "connector_id": 1,
        "plugged_in_at": T0,
        "energy_wh": 12_345,
        "charging_minutes": 1.5,
        "idle_minutes": 0.0,
        "max_power_kw": 11.0,
        "cost_energy": Decimal("3.7035"),
        "cost_time": zero,
        "cost_parking": zero,
        "cost_flat": Decimal("1.0000"),
        "cost_total": Decimal("4.7035"),
        "emitted_at": T0,
    }
    back = codec.decode("sessions", codec.encode("sessions", rec))
    assert back["cost_total"] == Decimal("4.7035") and back["energy_wh"] == 12_345
    assert back["quality_flags"] == [] and back["currency"] == "EUR"  # defaults filled


def test_registry_codec_uses_confluent_serializers_and_same_layout() -> None:
    # confluent-kafka's in-memory registry ("mock://"): the real serializer code path, no server.
    codec = RegistryCodec("mock://chargestream-test")
    ev = ChargerEvent("e-2", "ST-2", 1, T0, T0, "sdk", StatusChange("Charging"))
    data = codec.encode("charger.events", to_record(ev))
    assert data[0] == 0 and len(data) > 5
    assert from_record(codec.decode("charger.events", data)) == ev
