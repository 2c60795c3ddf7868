"""Cheap pickling for the engine's state classes. Pure.

The worker loads and saves each station's state around every batch. Slotted dataclasses pickle
through copyreg's generic slot walk; as (class, field values) they pickle several times faster.
"""

from __future__ import annotations

from typing import Any


def fields_reduce(obj: Any) -> tuple[type, tuple[Any, ...]]:
    """``__reduce__`` for a dataclass whose __init__ takes every field in order."""
    cls = type(obj)
    return cls, tuple(getattr(obj, name) for name in cls.__match_args__)
