"""Raw idTags never leave the gateway, not even inside a rejected frame on its way to the DLQ. Pure.

Every idTag / idToken value in the frame is replaced by its HMAC ("hmac:<hex>"). A frame that is
JSON is rewritten structurally; one that is not (the reason it was rejected) gets the same keys
rewritten textually, so nothing that looks like a token survives either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

TOKEN_KEYS: Final = frozenset({"idTag", "parentIdTag", "idToken", "groupIdToken"})
_TEXTUAL: Final = re.compile(r'("(?:idTag|parentIdTag|idToken|groupIdToken)"\s*:\s*")((?:[^"\\]|\\.)*)(")')

Hasher = Callable[[str], str | None]


def _mask(value: str, hasher: Hasher) -> str:
    return f"hmac:{hasher(value) or ''}"


def _walk(node: Any, hasher: Hasher) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in TOKEN_KEYS and isinstance(value, str):
                out[key] = _mask(value, hasher)
            else:
                out[key] = _walk(value, hasher)
        return out
    if isinstance(node, list):
        return [_walk(v, hasher) for v in node]
    return node


def redact_tokens(raw: bytes, hasher: Hasher) -> bytes:
    """The frame with every token value replaced by its HMAC."""
    text = raw.decode(errors="replace")
    try:
        frame = json.loads(text)
    except ValueError:
        return _TEXTUAL.sub(lambda m: m.group(1) + _mask(m.group(2), hasher) + m.group(3), text).encode()
    return json.dumps(_walk(frame, hasher), separators=(",", ":")).encode()
