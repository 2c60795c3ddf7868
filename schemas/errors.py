"""Our exceptions, under one base, at the ground floor: every package may raise and catch them.

- SetupError: the machine or the configuration is wrong; the CLI prints its message (the fix) in one line.
- RecordError: one input record cannot be used (a field missing, out of range, not decodable); it goes
  to a dead-letter topic with the message as its reason. Anything else raised while handling a record
  is a bug and stops the process.
"""

from __future__ import annotations


class ChargestreamError(Exception):
    """The base of every error chargestream raises on purpose."""


class SetupError(ChargestreamError, RuntimeError):
    """A problem with the machine or the configuration, with the fix in its message."""


class RecordError(ChargestreamError, ValueError):
    """One record that cannot be used as it is; the message is the DLQ reason."""
