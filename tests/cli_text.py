"""CLI output as one line of words: rich wraps panels and messages to the terminal's width (and a
long temp path wraps differently on every machine), so tests compare words, never layout."""

from __future__ import annotations

import re

_FRAME = re.compile(r"[\u2500-\u257f]")  # box drawing: the borders of rich's panels


def plain(text: str) -> str:
    return " ".join(_FRAME.sub(" ", text).split())
