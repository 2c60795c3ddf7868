"""Benchmark results as labelled runs in one JSON file: runs of different versions side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_run(out: Path, result: dict[str, Any]) -> None:
    """Add ``result`` to the runs in ``out`` (replacing an earlier run of its label) and print it."""
    previous = json.loads(out.read_text()) if out.exists() else {}
    runs = [r for r in previous.get("runs", []) if r.get("label") != result["label"]] + [result]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(json.dumps(result, indent=2))
