"""Raw idTags never leave the gateway: not in a rejected frame on its way to the DLQ, not in a DLQ
reason, not in a log line (ours or the `ocpp` library's, whose validation messages quote the payload).

Every idTag / idToken value is replaced by its HMAC ("hmac:<hex>"). A frame that is JSON is rewritten
structurally; one that is not (the reason it was rejected) gets the same keys rewritten textually, in
either quote style. Free text (an error message, a log line) is rewritten by key, and every token value
seen in a recent frame is replaced wherever it appears, since a validation message may quote the value
alone ("'TAG-…' is too long").
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

TOKEN_KEYS: Final = frozenset({"idTag", "parentIdTag", "idToken", "groupIdToken"})
# The same keys as the ocpp library names them in Python (snake_case), for its log lines.
_KEY_NAMES: Final = "idTag|parentIdTag|idToken|groupIdToken|id_tag|parent_id_tag|id_token|group_id_token"
_TEXTUAL: Final = re.compile(
    rf"""(["'](?:{_KEY_NAMES})["']\s*:\s*)(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
)
_MIN_TOKEN_LEN: Final = 4  # shorter values are not worth hunting in free text ("1", "A")

Hasher = Callable[[str], str | None]


def _mask(value: str, hasher: Hasher) -> str:
    return f"hmac:{hasher(value) or ''}"


def _masked(value: Any, hasher: Hasher) -> Any:
    """A token value of any type (a station may send a list or an object where a string belongs)."""
    if isinstance(value, str):
        return _mask(value, hasher)
    if isinstance(value, dict):  # 2.0.1: {"idToken": "...", "type": "ISO14443"}
        return _walk(value, hasher)
    return _mask(json.dumps(value, sort_keys=True), hasher)


def _walk(node: Any, hasher: Hasher) -> Any:
    if isinstance(node, dict):
        return {k: _masked(v, hasher) if k in TOKEN_KEYS else _walk(v, hasher) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, hasher) for v in node]
    return node


def _textual(text: str, hasher: Hasher) -> str:
    def sub(m: re.Match[str]) -> str:
        value = m.group(2) if m.group(2) is not None else m.group(3)
        return f'{m.group(1)}"{_mask(value, hasher)}"'

    return _TEXTUAL.sub(sub, text)


def redact_tokens(raw: bytes, hasher: Hasher) -> bytes:
    """The frame with every token value replaced by its HMAC."""
    text = raw.decode(errors="replace")
    try:
        frame = json.loads(text)
    except ValueError:
        return _textual(text, hasher).encode()
    return json.dumps(_walk(frame, hasher), separators=(",", ":")).encode()


def token_values(raw: str) -> set[str]:
    """Every token value in a frame, as text, however it was sent (string, list, number, bad JSON)."""
    found: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k in TOKEN_KEYS or k == "idToken":
                    collect(v)
        elif value is not None:
            found.add(json.dumps(value))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in TOKEN_KEYS:
                    collect(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    with contextlib.suppress(ValueError):  # not JSON: the textual pass below finds them
        walk(json.loads(raw))
    for m in _TEXTUAL.finditer(raw):
        found.add(m.group(2) if m.group(2) is not None else m.group(3))
    return {v for v in found if len(v) >= _MIN_TOKEN_LEN and not v.startswith("hmac:")}


class RecentTokens:
    """Token values of the last frames, so free text that quotes one can be rewritten (bounded)."""

    def __init__(self, hasher: Hasher, keep: int = 10_000) -> None:
        self.hasher = hasher
        self.keep = keep
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None

    def note(self, raw: str) -> None:
        if not any(k in raw for k in ("dTag", "dToken", "d_tag", "d_token")):
            return  # no token key at all: nothing to look for (the common frame)
        for value in token_values(raw):
            if value not in self._values:
                self._values[value] = None
                self._pattern = None
                if len(self._values) > self.keep:
                    self._values.popitem(last=False)

    def redact(self, text: str) -> str:
        """`text` with token values masked by key and every known token value masked anywhere."""
        text = _textual(text, self.hasher)
        if not self._values:
            return text
        if self._pattern is None:  # rebuilt only when a new token was noted
            # longest first, so a token that contains another is masked whole
            values = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in values))
        return self._pattern.sub(lambda m: _mask(m.group(), self.hasher), text)


class RedactingFilter(logging.Filter):
    """On a handler: each record's message and traceback pass `RecentTokens.redact` before output."""

    def __init__(self, tokens: RecentTokens) -> None:
        super().__init__()
        self.tokens = tokens
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            record.exc_text = self.tokens.redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.tokens.redact(record.exc_text)
        record.msg, record.args = self.tokens.redact(message), None
        return True
