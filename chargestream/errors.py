"""Errors that the CLI turns into one line saying what to do."""


class SetupError(RuntimeError):
    """A problem with the machine or the configuration, with the fix in its message."""
