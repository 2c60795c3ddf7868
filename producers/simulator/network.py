"""The simulated charging network: sites (time zones, coordinates), stations, models, firmware. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from producers.simulator.sampling import weighted

# (time zone, latitude, longitude): Berlin first (the demo network's site), then the datasets' cities.
SITE_PLACES = (
    ("Europe/Berlin", 52.52, 13.405),
    ("America/Los_Angeles", 34.137, -118.125),
    ("Europe/London", 56.462, -2.971),
    ("America/Denver", 40.015, -105.27),
    ("America/New_York", 40.713, -74.006),
    ("Europe/Helsinki", 60.17, 24.938),
    ("Asia/Tokyo", 35.68, 139.69),
    ("Australia/Sydney", -33.868, 151.209),
)


@dataclass(frozen=True)
class Model:
    vendor: str
    name: str
    kind: str  # AC | DC
    max_power_kw: float
    firmware: tuple[str, ...]
    weight: float


# Invented vendors: the simulator gives some of them fault clusters.
MODELS = (
    Model("Ampero", "Ampero Duo 7", "AC", 7.4, ("5.0.2", "5.1.0"), 0.3),
    Model("Northgrid", "NG-Wallbox-11", "AC", 11.0, ("1.8.3", "1.9.0"), 0.45),
    Model("Voltra", "VT-AC22", "AC", 22.0, ("2.4.1", "2.5.0"), 0.25),
    Model("Rapidon", "R50 Duo", "DC", 50.0, ("7.0.1", "7.1.0"), 0.4),
    Model("Volthaus", "VH-DC150", "DC", 150.0, ("3.1.0", "3.2.4"), 0.4),
    Model("Kilowatt Systems", "KS-350 HPC", "DC", 350.0, ("1.0.9", "1.1.2"), 0.2),
)


@dataclass(frozen=True)
class Site:
    site_id: str
    time_zone: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Station:
    station_id: str
    index: int
    site: Site
    model: Model
    firmware_version: str
    serial_number: str
    connectors: int

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def max_power_kw(self) -> float:
        return self.model.max_power_kw

    @property
    def connector_ids(self) -> range:
        return range(1, self.connectors + 1)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_dc(index: int, dc_share: float) -> bool:
    """Exactly round(n × dc_share) of the first n stations are DC, spread evenly."""
    return int((index + 1) * dc_share + 1e-9) > int(index * dc_share + 1e-9)


def build_network(
    seed: int, stations: int, sites: int, connectors: int, dc_share: float, run_tag: str = ""
) -> tuple[list[Site], list[Station]]:
    """Stations are split into contiguous blocks of sites, so each site has several stations."""
    rng = random.Random(f"network|{seed}")
    site_list = []
    for k in range(sites):
        tz, lat, lon = SITE_PLACES[k % len(SITE_PLACES)]
        site_list.append(
            Site(
                f"SITE-{seed}{run_tag}-{k:02d}",
                tz,
                round(lat + rng.uniform(-0.05, 0.05), 5),
                round(lon + rng.uniform(-0.05, 0.05), 5),
            )
        )
    out = []
    for s in range(stations):
        kind = "DC" if is_dc(s, dc_share) else "AC"
        model = weighted(rng, [(m, m.weight) for m in MODELS if m.kind == kind])
        out.append(
            Station(
                station_id=f"SIM-{seed}{run_tag}-{s:04d}",
                index=s,
                site=site_list[s * sites // stations],
                model=model,
                firmware_version=rng.choice(model.firmware),
                serial_number=f"SN{seed % 10_000:04d}{s:06d}",
                connectors=connectors,
            )
        )
    return site_list, out
