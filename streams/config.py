"""What the stream worker is built from: plain values, no environment (chargestream reads that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkerConfig:
    worker_id: str  # the Faust app id: consumer group and the prefix of its changelog topics
    bootstrap: str
    partitions: int
    data_dir: Path  # Faust's RocksDB stores
    run_dir: Path | None = None  # readiness and crash files for the stack runner; None: none written
    station_flush_s: float = 10.0  # a station silent this long (wall clock) has its buffer released
    batch_max: int = 2000
    batch_within_s: float = 0.05
    flush_check_s: float = 1.0
    # How long the group waits for a worker that stopped heartbeating (killed, crashed, hung) before
    # its partitions move: a restarted worker cannot rejoin sooner. Faust's default is 60 s.
    session_timeout_s: float = 10.0
