"""Data printed on a terminal cannot drive it (issue #10 §5)."""

from __future__ import annotations

import sys

import pytest

from chargestream import cli
from chargestream.terminal import terminal_safe

HOSTILE = "broken \x1b[2J\x1b[31mred\x07 \u202eevil\x9b1m end\tok"


def test_control_characters_are_shown_as_escapes() -> None:
    safe = terminal_safe(HOSTILE)
    assert safe == "broken \\x1b[2J\\x1b[31mred\\x07 \\u202eevil\\x9b1m end\tok"
    assert not any(ord(c) < 0x20 and c not in "\t\n" for c in safe)
    assert terminal_safe("Zürich Ladesäule 22 kW\n") == "Zürich Ladesäule 22 kW\n"


@pytest.mark.parametrize("tty", [True, False])
def test_sql_escapes_on_a_terminal_and_pipes_exact_bytes(
    tty: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def fake_run_query(_settings: object, query: str, fmt: str) -> bytes:
        seen.append(fmt)
        return f"comment\n{HOSTILE}\n".encode()

    monkeypatch.setattr(cli, "run_query_bytes", fake_run_query)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    cli.sql("SELECT comment FROM chargestream.driver_feedback", None)
    out = capsys.readouterr().out
    assert ("\x1b" in out) is not tty
    assert seen == ["PrettyCompact" if tty else "TabSeparatedWithNames"]
    if tty:
        assert "\\x1b[2J" in out
