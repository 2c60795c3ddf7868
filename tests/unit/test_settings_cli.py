"""`chargestream settings` shows every knob but never a password: a screen is shared, output is pasted."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from chargestream import cli
from chargestream.cli import _masked, app

URLS = [
    ("http://analyst:s3cret-pw@ch.example:8123", "http://analyst:***@ch.example:8123"),
    (
        "https://default:s3cret-pw@[2001:db8::7]:8443/?secure=1",
        "https://default:***@[2001:db8::7]:8443/?secure=1",
    ),
    ("chdb:///var/lib/chargestream/clickhouse", "chdb:///var/lib/chargestream/clickhouse"),
    ("http://ch.example:8123", "http://ch.example:8123"),
    ("127.0.0.1:9092", "127.0.0.1:9092"),
]


@pytest.mark.parametrize(("url", "shown"), URLS)
def test_a_urls_password_is_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert _masked(url) == shown


@pytest.mark.parametrize(("url", "shown"), URLS[:2])
def test_settings_mask_the_clickhouse_password(url: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_CLICKHOUSE_URL", url)
    # a console as wide as any value: rich would otherwise cut rows to the terminal's width
    monkeypatch.setattr(cli, "console", Console(highlight=False, width=400))
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output
    assert result.output.count(shown) == 2  # CHARGESTREAM_CLICKHOUSE_URL and the store in use
    assert "CHARGESTREAM_SINK_WRITERS" in result.output
