"""Station state <-> bytes for the Faust table (changelog + rocksdict store).

pickle: the state is plain dataclasses and must be cheap to load and save once per station per
batch. A version byte guards against reading another version's layout: bump it whenever the
state classes change shape, and recover the table from a fresh changelog (see README).
"""

from __future__ import annotations

import pickle
from typing import Final

from streams.station import StationState

STATE_VERSION: Final = 3


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
