"""Outputs acknowledged before the state that says they were sent.

A Faust table write lands in the worker's local RocksDB store at once (the changelog follows), while
``topic.send`` only hands the record to the producer's buffer. A worker killed between the two restarts
with state that says "sent" and records that never reached the broker; it re-runs the input from the
last committed offset, finds the work done, and sends nothing again: the records are lost. So each agent
waits for the broker's acknowledgements (acks=all) of what it sent before it writes that state.
"""

from __future__ import annotations

from streams.worker import Worker


async def delivered(worker: Worker) -> None:
    """Wait until the broker has acknowledged every record this worker sent so far."""
    await worker.app.producer.flush()
