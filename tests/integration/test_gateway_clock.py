"""The stack's own gateway ticks its clock into charger.events: a station that drops its connection and
is the only one there is still found offline (nothing else moves event time), and found back on its
reconnect. A real `ocpp` 1.6 client; the worker starts at the topic's end, so this station is alone."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from schemas.network import FaultRulesConfig
from schemas.topics import CHARGER_EVENTS
from sinks.service import SINK_TOPICS
from tests.integration.test_gateway_billing import _network
from tests.reliability.test_worker_crash import _start_group_at_end, _wait

GRACE_S = 15.0


async def _visit(port: int, station: str) -> None:
    """Boot, say Available, and hang up."""
    url = f"ws://127.0.0.1:{port}/ocpp/{station}"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = Client16(station, ws)
        reader = asyncio.create_task(cp.start())
        await cp.call(call.BootNotification(charge_point_model="AC22", charge_point_vendor="ACME"))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=now)
        )
        await cp.call(call.Heartbeat())
        reader.cancel()


def test_the_gateways_clock_finds_a_lone_station_offline_and_back(
    stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    station = f"GWC-{unique}"
    settings = stack_settings.model_copy(
        update={
            "network_file": _network(tmp_path, [station]),
            "gateway_clock_seconds": 1.0,
            "fault_rules": FaultRulesConfig(offline_grace_minutes=GRACE_S / 60),
        }
    )
    _start_group_at_end(settings.bootstrap, settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:
        _start_group_at_end(settings.bootstrap, settings.sink_group, topic)
    alerts = (
        "SELECT argMax(status, version), toUnixTimestamp64Milli(any(opened_at)) "
        f"FROM chargestream.alerts FINAL WHERE station_id = '{station}' AND type = 'station_offline' "
        "GROUP BY alert_id"
    )
    stack.up(settings, say=lambda _line: None)
    try:
        asyncio.run(_visit(settings.gateway_port, station))
        hung_up = time.time() * 1000
        _wait(
            lambda: bool(scalar(settings, alerts)),
            60 + GRACE_S,
            "the lone station alerted offline by the gateway's clock",
            lambda: stack.worker_process(settings).log_tail(),
        )
        ((status, opened),) = [ln.split("\t") for ln in scalar(settings, alerts).splitlines()]
        assert status == "opened"
        # dated from the loss of connection (the gateway's receipt of the close), not from a later tick
        assert abs(int(opened) - hung_up) < 2_000, (opened, hung_up)
        asyncio.run(_visit(settings.gateway_port, station))
        _wait(
            lambda: scalar(settings, alerts).split("\t")[0] == "resolved",
            60,
            "the offline alert resolved on the reconnect",
            lambda: scalar(settings, alerts),
        )
        # Each service's Prometheus metrics, on its own loopback port
        gateway = _metrics(settings.gateway_metrics_port)
        assert (
            gateway.get("chargestream_gateway_messages_total", version="1.6", action="BootNotification") == 2
        )
        assert gateway.get("chargestream_gateway_connections", version="ocpp1.6") == 0  # both visits over
        assert gateway.get("chargestream_gateway_events_total", kind="ConnectionChange") == 4
        worker = _metrics(settings.worker_metrics_port)
        assert worker.get("chargestream_worker_events_total") >= 8
        assert worker.get("chargestream_worker_alerts_total", type="station_offline", status="resolved") >= 1
        sink = _metrics(settings.sink_metrics_port)
        assert sink.get("chargestream_sink_rows_total", table="alerts") >= 2
        assert sink.get("chargestream_sink_batches_total") >= 1
        assert "chargestream_sink_consumer_lag" in sink.names
    finally:
        stack.down(settings, say=lambda _line: None)


class Scraped:
    """The samples of a /metrics page."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        self.names = {name for name, _ in self.samples}

    def get(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]


def _metrics(port: int) -> Scraped:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return Scraped(resp.read().decode())
