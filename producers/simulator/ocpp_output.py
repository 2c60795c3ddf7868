"""The simulator's OCPP shell: each station a real `ocpp` client over `websockets` against the gateway.

Stations run concurrently; each sends its events in delivery order (paced by `speed`) and waits
for every answer, as a charger does. What a client can really do of the pitfalls happens on the
wire: re-sent StartTransaction, kWh strings, phases, late replays of queued messages, missing
stops, skewed clocks. Feedback goes to the gateway's `POST /feedback`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call
from ocpp.v201 import ChargePoint as ChargePoint201

from producers.simulator.feedback import FeedbackReport
from producers.simulator.ocpp16_frames import Link, iso, to_call16
from producers.simulator.ocpp201_frames import Converter201
from producers.simulator.pacing import Pacer, origin
from producers.simulator.runner import OCPP_VERSIONS
from producers.simulator.simulation import Simulation
from schemas.events import ChargerEvent, TransactionEvent

log = logging.getLogger(__name__)


@dataclass
class OcppStats:
    calls: int = 0
    connections: int = 0
    feedback: int = 0
    errors: list[str] = field(default_factory=list)  # CallErrors and refused feedback: the gateway said no


class _Station:
    """One charger: its WebSocket, the reader task of its ChargePoint, its transaction ids."""

    def __init__(
        self, station_id: str, version: str, url: str, password: str | None, stats: OcppStats, timeout: float
    ) -> None:
        self.station_id = station_id
        self.version = version
        self.converter = Converter201()
        self.url = url
        self.password = password
        self.stats = stats
        self.timeout = timeout
        self.tx_ids: dict[str, int] = {}
        self._ws: Any = None
        self._cp: ChargePoint16 | ChargePoint201 | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> ChargePoint16 | ChargePoint201:
        headers = {}
        if self.password is not None:
            creds = base64.b64encode(f"{self.station_id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {creds}"
        self._ws = await websockets.connect(
            f"{self.url}/{self.station_id}",
            subprotocols=[f"ocpp{self.version}"],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=self.timeout,
        )
        cls = ChargePoint201 if self.version == "2.0.1" else ChargePoint16
        self._cp = cls(self.station_id, self._ws, response_timeout=self.timeout)
        self._reader = asyncio.create_task(self._cp.start())
        self.stats.connections += 1
        return self._cp

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        self._ws = self._cp = self._reader = None

    async def send(self, ev: ChargerEvent) -> None:
        frames = self.converter.frames(ev) if self.version == "2.0.1" else [to_call16(ev, self.tx_ids)]
        for k, frame in enumerate(frames):  # one event may take two 2.0.1 messages (status + fault event)
            await self._send(ev, frame, ev.message_id if k == 0 else f"{ev.message_id}.{k}")

    async def _send(self, ev: ChargerEvent, frame: Any, unique_id: str | None) -> None:
        if frame is Link.DOWN:
            await self.disconnect()
            return
        if frame is Link.UP or frame is None:
            if frame is Link.UP and self._cp is None:
                await self.connect()
            return
        cp = self._cp or await self.connect()
        try:
            answer = await cp.call(frame, suppress=False, unique_id=unique_id)
        except OCPPError as exc:
            self.stats.errors.append(f"{self.station_id} {type(frame).__name__}: {exc}")
            return
        finally:
            self.stats.calls += 1
        if isinstance(frame, call.StartTransaction) and isinstance(ev.payload, TransactionEvent):
            self.tx_ids[ev.payload.transaction_id] = int(answer.transaction_id)


def _http_base(ws_base: str) -> str:
    parts = urlsplit(ws_base)
    return urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "", "", ""))


def _post_feedback(http_base: str, f: FeedbackReport, timeout: float) -> None:
    r = f.record
    body = {
        "feedback_id": r.feedback_id,
        "station_id": r.station_id,
        "connector_id": r.connector_id,
        "rating": r.rating,
        "category": r.category,
        "comment": r.comment,
        "user_ref": f.user_ref,
        "submitted_at": iso(r.submitted_at),
    }
    req = Request(
        f"{http_base}/feedback",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urlopen(req, timeout=timeout) as resp:
        if resp.status != 202:
            raise OSError(f"POST /feedback answered {resp.status}")


async def run_via_ocpp(
    sim: Simulation,
    gateway_url: str = "ws://127.0.0.1:8180",
    *,
    speed: float | None = None,
    version: str = "1.6",
    password_of: Callable[[str], str | None] | None = None,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> OcppStats:
    """Drive every station of `sim` through the gateway; returns what was sent and refused.

    `gateway_url`: the gateway's base (ws://host:port); stations connect to {base}/ocpp/{station}.
    `version`: the OCPP version of the stations, 1.6, 2.0.1 or mixed (by station index).
    `password_of`: HTTP Basic password per station (OCPP security profile 1), None for none."""
    if version not in OCPP_VERSIONS:
        raise ValueError(f"version must be one of {', '.join(OCPP_VERSIONS)}")
    base = gateway_url.rstrip("/")
    index = {st.station_id: st.index for st in sim.stations}
    stats = OcppStats()
    pacer = Pacer(speed, origin(sim))
    by_station: dict[str, list[ChargerEvent]] = defaultdict(list)
    for ev in sim.events:
        by_station[ev.station_id].append(ev)
    done = [0]

    async def station(station_id: str, events: list[ChargerEvent]) -> None:
        v = version if version != "mixed" else ("2.0.1" if index[station_id] % 2 else "1.6")
        password = password_of(station_id) if password_of else None
        st = _Station(station_id, v, f"{base}/ocpp", password, stats, timeout)
        try:
            for ev in events:
                await pacer.wait_async(ev.received_at)
                await st.send(ev)
                done[0] += 1
                if progress is not None and done[0] % 500 == 0:
                    progress(done[0])
        finally:
            await st.disconnect()

    async def feedback() -> None:
        http = _http_base(base)
        for f in sim.feedback:
            await pacer.wait_async(f.received_at)
            try:
                await asyncio.to_thread(_post_feedback, http, f, timeout)
                stats.feedback += 1
            except OSError as exc:
                stats.errors.append(f"feedback {f.truth.feedback_id}: {exc}")

    await asyncio.gather(*(station(s, evs) for s, evs in by_station.items()), feedback())
    return stats
