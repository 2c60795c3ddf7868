"""Schema-valid absurd OCPP input through the real gateway, worker and sink (issue #10 §2).

A property: hypothesis draws frames that pass the OCPP schema but no charger can send (connector -1 or
70000, registers of 1e19 Wh or 400 digits, "1e308", NaN, a year 9999, a multiplier of 10^50, signed
meter values) and a real `ocpp` 1.6 client sends them in the middle of a good session, between two
more. Each drawn frame must be answered with a CallError and dead-lettered with its reason, or (a
signed value the gateway cannot read) accepted and flagged on the bill; the good sessions are billed
exactly; the worker, sink and gateway are still running at the end. A 2.0.1 station does the same
with its own shapes (evseId -1, multiplier, 1e308).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets
import yaml
from confluent_kafka import Consumer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from schemas.topics import CHARGER_EVENTS, dlq

EXAMPLES = int(os.environ.get("CHARGESTREAM_POISON_EXAMPLES", "4"))
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _t(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Absurd:
    """One frame to send in the middle of the session (minute 15..25, transaction `tx`)."""

    kind: str
    value: Any

    def call(self, tx: int, minute: float) -> Any:
        mv = call16.MeterValues
        if self.kind == "status_connector":
            return call16.StatusNotification(
                connector_id=self.value, error_code="NoError", status="Charging", timestamp=_t(minute)
            )
        if self.kind == "register":
            value, unit = self.value
            sample = {"value": value, "unit": unit}
            return mv(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": _t(minute), "sampledValue": [sample]}],
            )
        if self.kind == "power":
            sample = {"value": self.value, "measurand": "Power.Active.Import", "unit": "W"}
            return mv(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": _t(minute), "sampledValue": [sample]}],
            )
        if self.kind == "meter_connector":
            sample = {"value": "4000", "unit": "Wh"}
            return mv(
                connector_id=self.value, meter_value=[{"timestamp": _t(minute), "sampledValue": [sample]}]
            )
        if self.kind == "year":
            sample = {"value": "4000", "unit": "Wh"}
            return mv(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": self.value, "sampledValue": [sample]}],
            )
        if self.kind == "meter_start":
            return call16.StartTransaction(
                connector_id=2, id_tag="TAG-X", meter_start=self.value, timestamp=_t(minute)
            )
        if self.kind == "meter_stop":  # for a transaction id of its own: the real stop comes later
            return call16.StopTransaction(meter_stop=self.value, timestamp=_t(minute), transaction_id=tx + 1)
        if self.kind == "signed":
            sample = {"value": self.value, "format": "SignedData", "context": "Sample.Periodic"}
            return mv(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": _t(minute), "sampledValue": [sample]}],
            )
        raise AssertionError(self.kind)

    @property
    def accepted(self) -> bool:
        return self.kind == "signed"


_BIG = st.one_of(st.integers(min_value=10**12 + 1, max_value=10**30), st.just(10**400 - 1))
absurd = st.one_of(
    st.builds(
        Absurd, st.just("status_connector"), st.one_of(st.integers(-(2**31), -1), st.integers(256, 2**31 - 1))
    ),
    st.builds(
        Absurd,
        st.just("meter_connector"),
        st.one_of(st.integers(-(2**31), -1), st.integers(70_000, 2**31 - 1)),
    ),
    st.builds(
        Absurd,
        st.just("register"),
        st.tuples(
            st.one_of(
                st.sampled_from(
                    [
                        "1e308",
                        "1e19",
                        "1e16",
                        "-1",
                        "-5e9",
                        "NaN",
                        "Infinity",
                        "-Infinity",
                        "1e400",
                        "9" * 400,
                    ]
                ),
                st.floats(min_value=1.01e12, max_value=1e300).map(repr),
                st.floats(max_value=-0.5, min_value=-1e300).map(repr),
            ),
            st.sampled_from(["Wh", "kWh"]),
        ),
    ),
    st.builds(Absurd, st.just("power"), st.sampled_from(["1e300", "-1e300", "1e19", "NaN", "Infinity"])),
    st.builds(
        Absurd,
        st.just("year"),
        st.sampled_from(["9999-12-31T23:59:59Z", "2150-01-01T00:00:00Z", "0001-01-01T00:00:00Z"]),
    ),
    st.builds(Absurd, st.just("meter_start"), _BIG),
    st.builds(Absurd, st.just("meter_stop"), _BIG),
    st.builds(
        Absurd,
        st.just("signed"),
        st.binary(min_size=8, max_size=64).map(lambda b: base64.b64encode(b).decode()),
    ),
)


async def _session_16(
    cp: Client16, start_min: float, start_wh: int, stop_wh: int, frames: list[Absurd]
) -> list[bool]:
    """A good session with `frames` sent in its middle; returns, per frame, whether it got a CallError."""

    async def status(minute: float, value: str) -> None:
        await cp.call(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status=value, timestamp=_t(minute)
            )
        )

    await status(start_min, "Preparing")
    started = await cp.call(
        call16.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=start_wh, timestamp=_t(start_min + 1)
        )
    )
    tx = started.transaction_id
    await status(start_min + 1, "Charging")
    mid = (start_wh + stop_wh) // 2
    sample = [{"timestamp": _t(start_min + 10), "sampledValue": [{"value": str(mid), "unit": "Wh"}]}]
    await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=sample))
    refused = []
    for i, frame in enumerate(frames):
        try:
            await cp.call(frame.call(tx, start_min + 15 + 10 * i / max(1, len(frames))), suppress=False)
            refused.append(False)
        except OCPPError:
            refused.append(True)
    sample = [{"timestamp": _t(start_min + 30), "sampledValue": [{"value": str(stop_wh), "unit": "Wh"}]}]
    await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=sample))
    await cp.call(
        call16.StopTransaction(
            meter_stop=stop_wh, timestamp=_t(start_min + 40), transaction_id=tx, reason="EVDisconnected"
        )
    )
    await status(start_min + 40, "Finishing")
    await status(start_min + 41, "Available")
    return refused


async def _station_16(port: int, station: str, frames: list[Absurd]) -> list[bool]:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = Client16(station, ws)
        reader = asyncio.create_task(cp.start())
        await cp.call(call16.BootNotification(charge_point_model="AC22", charge_point_vendor="ACME"))
        await _session_16(cp, 0, 1_000, 6_000, [])
        refused = await _session_16(cp, 60, 6_000, 10_000, frames)
        await _session_16(cp, 120, 10_000, 13_500, [])
        await cp.call(call16.Heartbeat())
        reader.cancel()
        return refused


def _network(tmp_path: Path) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(
        yaml.safe_dump({"dev_mode": True, "sites": {"depot": {"time_zone": "UTC"}}, "stations": {}})
    )
    return path


def _bills(settings: Settings, station: str, want: int, timeout: float = 90.0) -> list[list[str]]:
    sql = (
        "SELECT energy_wh, arrayStringConcat(quality_flags, ',') FROM chargestream.billing_records FINAL "
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


def _dead_letters(bootstrap: str, station: str, timeout: float = 20.0, want: int = 0) -> list[str]:
    """The reasons of the DLQ records of this station's frames (all of the DLQ topic, from the start)."""
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    topic = dlq(CHARGER_EVENTS)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        reasons: list[str] = []
        done: set[int] = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(parts) and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error():
                continue
            if msg.key() == station.encode():
                headers = dict(msg.headers() or [])
                reasons.append(headers.get("dlq.reason", b"").decode())
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
        return reasons
    finally:
        c.close()


def _alive(settings: Settings) -> dict[str, bool]:
    return {r.name: r.pid is not None for r in stack.status(settings) if r.name != "kafka"}


def test_absurd_frames_are_refused_and_good_sessions_billed_exactly(
    stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    run = stack_settings.model_copy(update={"network_file": _network(tmp_path)})
    stack.up(run, say=lambda _line: None)
    n = [0]
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(st.lists(absurd, min_size=1, max_size=6))
        def example(frames: list[Absurd]) -> None:
            n[0] += 1
            station = f"POISON16-{unique}-{n[0]}"
            refused = asyncio.run(_station_16(run.gateway_port, station, frames))
            assert refused == [not f.accepted for f in frames], list(zip(frames, refused, strict=True))
            bills = _bills(run, station, 3)
            assert [b[0] for b in bills] == ["5000", "4000", "3500"], (frames, bills)
            signed = any(f.accepted for f in frames)
            assert ("meter_value_unreadable" in bills[1][1]) == signed, bills
            reasons = _dead_letters(run.bootstrap, station)
            assert len(reasons) == sum(refused), (frames, reasons)
            assert all("out of bounds" in r or "not" in r or "outside" in r for r in reasons), reasons

        example()
        assert _alive(run) == {"gateway": True, "worker": True, "sink": True}
    finally:
        stack.down(run, say=lambda _line: None)


async def _station_201(port: int, station: str) -> list[bool]:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{station}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        cp = Client201(station, ws)
        reader = asyncio.create_task(cp.start())
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "DC50", "vendor_name": "ACME"}, reason="PowerUp"
            )
        )

        def tx_event(kind: str, seq: int, minute: float, value: float, **extra: Any) -> Any:
            uom = extra.pop("uom", None)
            sample: dict[str, Any] = {"value": value}
            if uom is not None:
                sample["unit_of_measure"] = uom
            return call201.TransactionEvent(
                event_type=kind,
                timestamp=_t(minute),
                trigger_reason="MeterValuePeriodic" if kind == "Updated" else "CablePluggedIn",
                seq_no=seq,
                transaction_info={"transaction_id": "tx-poison", **extra.pop("info", {})},
                evse=extra.pop("evse", {"id": 1, "connector_id": 1}),
                meter_value=[{"timestamp": _t(minute), "sampled_value": [sample]}],
            )

        await cp.call(tx_event("Started", 0, 0, 100_000.0, info={"charging_state": "Charging"}))
        await cp.call(tx_event("Updated", 1, 10, 105_000.0))
        hostile = [
            call201.StatusNotification(
                timestamp=_t(12), connector_status="Occupied", evse_id=-1, connector_id=1
            ),
            call201.StatusNotification(
                timestamp=_t(12), connector_status="Occupied", evse_id=70_000, connector_id=1
            ),
            tx_event("Updated", 2, 13, 1e308),
            tx_event("Updated", 3, 14, 1.0, uom={"unit": "Wh", "multiplier": 50}),
            tx_event("Updated", 4, 15, -7.0),
            tx_event("Updated", 5, 16, 107_000.0, evse={"id": -1}),
        ]
        refused = []
        for frame in hostile:
            try:
                await cp.call(frame, suppress=False)
                refused.append(False)
            except OCPPError:
                refused.append(True)
        await cp.call(tx_event("Updated", 6, 30, 110_000.0))
        await cp.call(tx_event("Ended", 7, 40, 110_000.0, info={"stopped_reason": "EVDisconnected"}))
        await cp.call(
            call201.StatusNotification(
                timestamp=_t(41), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        await cp.call(call201.Heartbeat())
        reader.cancel()
        return refused


def test_absurd_201_frames_are_refused_and_the_session_billed_exactly(
    stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    run = stack_settings.model_copy(update={"network_file": _network(tmp_path)})
    station = f"POISON201-{unique}"
    stack.up(run, say=lambda _line: None)
    try:
        refused = asyncio.run(_station_201(run.gateway_port, station))
        bills = _bills(run, station, 1)
        reasons = _dead_letters(run.bootstrap, station)
        alive = _alive(run)
    finally:
        stack.down(run, say=lambda _line: None)
    assert refused == [True] * 6
    assert [b[0] for b in bills] == ["10000"], bills
    assert len(reasons) == 6, reasons
    assert alive == {"gateway": True, "worker": True, "sink": True}


def test_absurd_events_that_bypass_the_gateway_are_dead_lettered_by_worker_and_sink(
    stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    """A producer that is not the gateway or the SDK (a raw Avro publisher) is held to the same bounds:
    the worker's engine and the sink refuse each event to their DLQs, and a good session of the same
    station around them is billed exactly."""
    from producers.publisher import EventPublisher
    from schemas.codec import EmbeddedCodec
    from schemas.events import ChargerEvent, MeterValues, SampledValue, StatusChange, TransactionEvent

    station = f"RAWPOISON-{unique}"
    t0 = int((BASE - timedelta(hours=2)).timestamp() * 1000)
    minute = 60_000
    n = [0]

    def ev(m: float, payload: Any, connector: int = 1) -> ChargerEvent:
        n[0] += 1
        at = t0 + round(m * minute)
        return ChargerEvent(f"{station}-{n[0]}", station, connector, at, at, "raw", payload)

    def wh(m: float, value: float) -> MeterValues:
        return MeterValues((SampledValue(t0 + round(m * minute), "Wh", value, repr(value)),), "tx")

    absurd = [
        ev(12, StatusChange("Charging"), connector=70_000),
        ev(13, StatusChange("Charging"), connector=-1),
        ev(14, wh(14, 1e308)),
        ev(15, wh(15, 1e19)),
        ev(16, TransactionEvent("Updated", "tx", meter_wh=1e18)),
    ]
    good = [
        ev(0, StatusChange("Preparing")),
        ev(1, TransactionEvent("Started", "tx", meter_wh=1_000.0)),
        ev(1, StatusChange("Charging")),
        ev(10, wh(10, 3_000.0)),
        *absurd,
        ev(30, wh(30, 5_000.0)),
        ev(40, TransactionEvent("Ended", "tx", meter_wh=5_500.0)),
        ev(41, StatusChange("Available")),
    ]
    run = stack_settings.model_copy(update={"network_file": _network(tmp_path)})
    stack.up(run, say=lambda _line: None)
    try:
        EventPublisher(run.bootstrap, EmbeddedCodec()).publish_all(good)
        bills = _bills(run, station, 1)
        deadline = time.monotonic() + 60
        reasons: list[str] = []
        while time.monotonic() < deadline and len(reasons) < 2 * len(absurd):
            reasons = _dead_letters(run.bootstrap, station)
            time.sleep(1)
        alive = _alive(run)
    finally:
        stack.down(run, say=lambda _line: None)
    assert [b[0] for b in bills] == ["4500"], bills
    # each absurd event twice: once from the worker (stage sessions), once from the sink
    assert len(reasons) == 2 * len(absurd), reasons
    assert all("outside" in r or "not" in r for r in reasons), reasons
    assert alive == {"gateway": True, "worker": True, "sink": True}
