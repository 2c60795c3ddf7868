"""The stations file (chargestream/network.py): password hashes, metadata, tariff lookup, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargestream.settings import Settings
from schemas.errors import SetupError
from schemas.network import (
    HASH_SCHEME,
    NetworkConfig,
    SiteConfig,
    StationConfig,
    StationMetadata,
    hash_password,
    load_network,
    verify_password,
)


def test_hash_and_verify() -> None:
    stored = hash_password("a-good-station-password", iterations=1000)
    scheme, iterations, _salt, _digest = stored.split("$")
    assert (scheme, iterations) == (HASH_SCHEME, "1000")
    assert verify_password("a-good-station-password", stored)
    assert not verify_password("a-good-station-passworD", stored)
    assert hash_password("same", iterations=1000) != hash_password("same", iterations=1000)  # salted
    salt = b"0123456789abcdef"
    assert hash_password("same", iterations=1000, salt=salt) == hash_password(
        "same", iterations=1000, salt=salt
    )


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text",
        "md5$1000$c2FsdA==$ZGlnZXN0",
        "pbkdf2_sha256$many$c2FsdA==$ZGln",
        "pbkdf2_sha256$1$!!$!!",
    ],
)
def test_malformed_or_foreign_hashes_never_verify(stored: str) -> None:
    assert not verify_password("anything", stored)


NET = NetworkConfig(
    default_tariff_id="std",
    tariffs={"std": {"id": "std"}, "depot": {"id": "depot"}, "vip": {"id": "vip"}},
    sites={
        "north": SiteConfig(time_zone="Europe/Berlin", latitude=52.5, longitude=13.4, tariff_id="depot"),
        "south": SiteConfig(),
    },
    stations={
        "CP1": StationConfig(site_id="north", max_power_kw=22, connectors=2),
        "CP2": StationConfig(site_id="north", latitude=52.6, tariff_id="vip"),
        "CP3": StationConfig(site_id="south"),
    },
)


def test_metadata_station_overrides_site() -> None:
    assert NET.metadata("CP1") == StationMetadata("CP1", "north", "Europe/Berlin", 52.5, 13.4, 22.0, 2)
    assert NET.metadata("CP2") == StationMetadata("CP2", "north", "Europe/Berlin", 52.6, 13.4, None, None)
    assert NET.metadata("nobody") == StationMetadata("nobody", None, "UTC", None, None, None, None)


def test_tariff_station_then_site_then_default() -> None:
    assert [NET.tariff_id_for(s) for s in ("CP1", "CP2", "CP3", "nobody")] == ["depot", "vip", "std", "std"]
    assert NET.tariff_id_for("nobody", site_id="north") == "depot"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(text)
    return path


def test_load_a_file(tmp_path: Path) -> None:
    stored = hash_password("pw-for-cs-0001-xx", iterations=1000)
    cfg = load_network(
        _write(
            tmp_path,
            f"""
dev_mode: false
tariffs: {{std: {{id: std, currency: EUR}}}}
default_tariff_id: std
sites:
  depot: {{time_zone: Europe/Paris, latitude: 48.8, longitude: 2.3}}
stations:
  CS-0001: {{site_id: depot, password_hash: "{stored}", max_power_kw: 11, connectors: 1}}
""",
        )
    )
    assert not cfg.dev_mode and cfg.metadata("CS-0001").time_zone == "Europe/Paris"
    assert verify_password("pw-for-cs-0001-xx", cfg.stations["CS-0001"].password_hash or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stations: {A: {site_id: nowhere}}", "unknown site_id 'nowhere'"),
        ("sites: {s: {tariff_id: t}}", "unknown tariff_id 't'"),
        ("default_tariff_id: t", "unknown tariff_id 't'"),
        ("sites: {s: {time_zone: Mars/Olympus}}", "unknown IANA time zone"),
        ("stations: {A: {passwd: x}}", "passwd"),
    ],
)
def test_bad_files_fail_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SetupError, match=message) as err:
        load_network(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_bad_yaml_fails_with_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="not valid YAML"):
        load_network(_write(tmp_path, "dev_mode: ["))


def test_bad_yaml_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SetupError) as err:
        load_network(_write(tmp_path, "dev_mode: ["))
    assert "\n" not in str(err.value)


def test_missing_file_and_no_file(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="CHARGESTREAM_NETWORK_FILE"):
        load_network(tmp_path / "missing.yaml")
    empty = load_network(None)
    assert not empty.dev_mode and not empty.stations
    assert load_network(_write(tmp_path, "")) == NetworkConfig()


def test_the_packaged_demo_network_is_valid_and_in_dev_mode() -> None:
    demo = load_network(Settings(network_file=None).network_path)
    assert demo.dev_mode and demo.default_tariff_id in demo.tariffs
