"""Expected failures, each mapped to an exit code by the CLI."""

from __future__ import annotations


class BhsvcError(Exception):
    """An expected failure: the message is shown to the user without a traceback."""

    exit_code = 1


class UsageError(BhsvcError):
    """Bad input from the user: flags, config file, credentials file."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file is missing, unreadable or invalid."""


class OperationError(BhsvcError):
    """The operation itself failed (cluster, registry, helm, network).

    `diagnosis`: lines that say why (pods that are not ready, their events and
    logs), shown before the error.
    """

    exit_code = 1

    def __init__(self, message: str, diagnosis: list[str] | None = None) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis or []
