"""Errors that carry the CLI exit code of the contract in docs (architecture.md)."""

from __future__ import annotations


class OpsError(Exception):
    """Base class; ``exit_code`` is what ``ops-driver`` exits with."""

    exit_code = 1


class InvalidInput(OpsError):
    """Bad request, unknown task, bad parameter: exit 2, nothing was run."""

    exit_code = 2


class RunFailed(OpsError):
    """The operation failed while running: exit 3."""

    exit_code = 3


class PolicyRefused(OpsError):
    """Refused by policy (plan stale, drifted, tampered or applied, lock held): exit 4."""

    exit_code = 4
