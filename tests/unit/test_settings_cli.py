"""`chargestream settings` shows every knob but never a password: a screen is shared, output is pasted."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chargestream.cli import app


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://analyst:s3cret-pw@ch.example:8123", "http://analyst:***@ch.example:8123"),
        ("https://default:s3cret-pw@[2001:db8::7]:8443/?secure=1", "https://default:***@[2001:db8::7]:8443"),
    ],
)
def test_settings_mask_the_clickhouse_password(url: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_CLICKHOUSE_URL", url)
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: the URL is not wrapped
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output
    assert shown in result.output  # where it points stays visible
    assert "CHARGESTREAM_SINK_WRITERS" in result.output
