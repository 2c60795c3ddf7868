"""Text from the store shown on a terminal: control characters made visible, never obeyed.

A driver's feedback comment, a station id or a vendor string is data from outside; printed raw,
`\\x1b[2J` clears the analyst's screen and a bidi override reorders what they read.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi overrides/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on written as an escape (`\\x1b`)."""
    return _UNSAFE.sub(_visible, text)
