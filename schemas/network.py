"""The charging network's configuration: sites, stations, tariffs (the "stations file").

One YAML file, read by the gateway (credentials, station metadata to publish) and by the stream
workers (tariff per site or station, idle thresholds per site). Example: ``config/network.yaml``.

    dev_mode: false            # true: the gateway accepts stations missing from this file
    default_tariff_id: std     # used where neither station nor site names one
    tariffs:                   # OCPI 2.2.1 Tariff objects, keyed by their id
      std: {id: std, currency: EUR, elements: [...], ...}
    sites:
      depot-north: {time_zone: Europe/Berlin, latitude: 52.5, longitude: 13.4, tariff_id: std}
    stations:
      CS-0001: {site_id: depot-north, password_hash: "pbkdf2_sha256$...", max_power_kw: 22, connectors: 2}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.errors import SetupError

HASH_SCHEME = "pbkdf2_sha256"
# OCPP security profile passwords are 16-40 random characters: high entropy, so a moderate
# iteration count suffices and keeps a reconnect storm from burning the gateway's CPU.
DEFAULT_ITERATIONS = 100_000


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``: what the stations file stores."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{HASH_SCHEME}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != HASH_SCHEME:
            return False
        actual = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(actual, base64.b64decode(digest))
    except ValueError:
        return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultRulesConfig(_Strict):
    """Overrides of the fault rules' defaults (README "Fault rules"); unset fields keep the default."""

    offline_grace_minutes: float | None = Field(
        None, gt=0, description="a lost connection back within this is a blip"
    )
    heartbeat_minutes: float | None = Field(None, gt=0, description="the stations' heartbeat interval")
    heartbeat_misses: int | None = Field(None, ge=1, description="silent this many intervals: offline")
    flapping_faults: int | None = Field(None, ge=2, description="faults within the window that make a flap")
    flapping_window_minutes: float | None = Field(None, gt=0)
    flapping_stable_minutes: float | None = Field(None, gt=0, description="no fault this long: stable again")
    start_failures: int | None = Field(None, ge=1, description="sessions in a row without energy")
    site_outage_share: float | None = Field(None, gt=0, le=1, description="share of a site's stations down")
    site_outage_stations: int | None = Field(None, ge=1, description="and at least this many")
    site_outage_window_minutes: float | None = Field(None, gt=0, description="gone down within this")
    burst_connectors: int | None = Field(None, ge=2, description="connectors of a site faulted together")
    burst_stations: int | None = Field(None, ge=1, description="on at least this many stations")
    burst_window_minutes: float | None = Field(None, gt=0)
    cluster_stations: int | None = Field(None, ge=2, description="stations of one model with one error")
    cluster_sites: int | None = Field(None, ge=1, description="at least this many sites")
    cluster_window_minutes: float | None = Field(None, gt=0)
    dispatch_reports: int | None = Field(None, ge=1, description="failure reports that send a technician")
    dispatch_window_minutes: float | None = Field(None, gt=0, description="reported within this")


class SiteConfig(_Strict):
    name: str | None = None
    time_zone: str = "UTC"
    latitude: float | None = None
    longitude: float | None = None
    tariff_id: str | None = None
    idle_escalation_minutes: float | None = Field(
        None, description="overrides the power-class interval of idle escalation for this site"
    )
    fault_rules: FaultRulesConfig | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v


class StationConfig(_Strict):
    site_id: str | None = None
    password_hash: str | None = None
    max_power_kw: float | None = None
    connectors: int | None = None
    tariff_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class NetworkConfig(_Strict):
    dev_mode: bool = False
    default_tariff_id: str | None = None
    tariffs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sites: dict[str, SiteConfig] = Field(default_factory=dict)
    stations: dict[str, StationConfig] = Field(default_factory=dict)

    def metadata(self, station_id: str) -> StationMetadata:
        st = self.stations.get(station_id) or StationConfig()
        site = self.sites.get(st.site_id or "") or SiteConfig()
        return StationMetadata(
            station_id=station_id,
            site_id=st.site_id,
            time_zone=site.time_zone,
            latitude=st.latitude if st.latitude is not None else site.latitude,
            longitude=st.longitude if st.longitude is not None else site.longitude,
            max_power_kw=st.max_power_kw,
            connectors=st.connectors,
        )

    def tariff_id_for(self, station_id: str, site_id: str | None = None) -> str | None:
        """Station's tariff, else its site's, else the network default."""
        st = self.stations.get(station_id)
        if st is not None and st.tariff_id:
            return st.tariff_id
        site = self.sites.get((st.site_id if st else None) or site_id or "")
        if site is not None and site.tariff_id:
            return site.tariff_id
        return self.default_tariff_id

    def check(self) -> None:
        """Cross-references: every named site and tariff exists."""
        for sid, st in self.stations.items():
            if st.site_id is not None and st.site_id not in self.sites:
                raise ValueError(f"station {sid}: unknown site_id {st.site_id!r}")
        named = [(f"station {k}", v.tariff_id) for k, v in self.stations.items()]
        named += [(f"site {k}", v.tariff_id) for k, v in self.sites.items()]
        named.append(("default_tariff_id", self.default_tariff_id))
        for where, tid in named:
            if tid is not None and tid not in self.tariffs:
                raise ValueError(f"{where}: unknown tariff_id {tid!r} (define it under tariffs:)")


@dataclass(frozen=True, slots=True)
class StationMetadata:
    station_id: str
    site_id: str | None
    time_zone: str
    latitude: float | None
    longitude: float | None
    max_power_kw: float | None
    connectors: int | None


def load_network(path: Path | None) -> NetworkConfig:
    """The network file at ``path``; no path gives an empty network (nothing configured)."""
    if path is None:
        return NetworkConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise SetupError(f"network file {path} not found (set CHARGESTREAM_NETWORK_FILE)") from exc
    except yaml.YAMLError as exc:
        raise SetupError(f"network file {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    try:
        cfg = NetworkConfig.model_validate(raw)
        cfg.check()
    except (ValidationError, ValueError) as exc:
        raise SetupError(f"network file {path}: {exc}".replace("\n", "; ")) from exc
    return cfg
