"""Station state <-> bytes for the Faust table (changelog + rocksdict store).

`split_state` / `attach_chunks` keep each sealed journal chunk under a key of its own, written once:
a save after a batch then writes the station's live state and its new chunks, not its whole history.

pickle: the state is plain dataclasses and must be cheap to load and save once per station per
batch. A version byte guards against reading another version's layout: bump it whenever the
state classes change shape, and recover the table from a fresh changelog (see README).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Final

from streams.station import StationState

STATE_VERSION: Final = 5


class StateVersionError(RuntimeError):
    pass


def dump_state(state: StationState) -> bytes:
    return bytes([STATE_VERSION]) + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def load_state(data: bytes) -> StationState:
    if not data or data[0] != STATE_VERSION:
        raise StateVersionError(
            f"station state of version {data[0] if data else None}, this worker reads {STATE_VERSION}: "
            "stop the workers and reset the table (chargestream down, then remove state/worker and the "
            "changelog topic) or run the version this state was written by"
        )
    state = pickle.loads(data[1:])  # our own changelog, written by this code
    if not isinstance(state, StationState):
        raise StateVersionError("the stored station state is not a StationState")
    return state


CHUNK_MARK: Final = "#journal#"


def chunk_key(station_id: str, connector_id: int, ref: str) -> str:
    return f"{station_id}{CHUNK_MARK}{connector_id}#{ref}"


def is_chunk_key(key: str) -> bool:
    return CHUNK_MARK in key


def split_state(state: StationState) -> tuple[bytes, dict[str, bytes], list[str]]:
    """(the state without its stored chunks, new chunks by key, keys of chunks no longer needed).
    Marks the new chunks stored: write them, then the state, then delete the others."""
    chunks: dict[str, bytes] = {}
    gone: list[str] = []
    for cid, log in state.connectors.items():
        journal = log.journal
        for chunk in journal.chunks:
            if chunk.blob is not None:
                chunks[chunk_key(state.station_id, cid, chunk.ref)] = chunk.blob
                chunk.blob, chunk.stored = None, True
        gone += [chunk_key(state.station_id, cid, ref) for ref in journal.dropped]
        journal.dropped.clear()
    return dump_state(state), chunks, gone


def attach_chunks(state: StationState, get: Callable[[str], bytes | None]) -> StationState:
    """Let the state's journals read their stored chunks through ``get`` (when re-deriving)."""
    for cid, log in state.connectors.items():
        log.journal.fetch = _fetcher(state.station_id, cid, get)
    return state


def _fetcher(
    station_id: str, connector_id: int, get: Callable[[str], bytes | None]
) -> Callable[[str], bytes]:
    def fetch(ref: str) -> bytes:
        blob = get(chunk_key(station_id, connector_id, ref))
        if blob is None:
            raise StateVersionError(f"station {station_id}: journal chunk {connector_id}/{ref} is missing")
        return blob

    return fetch
