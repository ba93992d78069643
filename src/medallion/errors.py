"""Errors shared by every job and the CLI."""


class JobFailedError(RuntimeError):
    """A job ran and failed in a way that must fail the task (the CLI exits 1)."""
