"""Expected failures of the lifecycle commands, each with its own exit code.

The CLI prints these as one line (no traceback); anything else is a bug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    NOT_FOUND = 4
    REFUSED = 5
    BAD_CONFIG = 6
    MLFLOW_ERROR = 7
    BUNDLE_INVALID = 8


class MlshipError(Exception):
    """An expected, user-facing error."""

    exit_code: ExitCode = ExitCode.MLFLOW_ERROR


class TrackingServerUnreachableError(MlshipError):
    exit_code = ExitCode.UNREACHABLE


class NotFoundError(MlshipError):
    exit_code = ExitCode.NOT_FOUND


class RefusedError(MlshipError):
    exit_code = ExitCode.REFUSED


class BadConfigError(MlshipError):
    exit_code = ExitCode.BAD_CONFIG


class GateFailedError(MlshipError):
    exit_code = ExitCode.GATE_FAILED


class BundleError(MlshipError):
    """A model bundle that does not verify: changed, missing or extra files, bad manifest."""

    exit_code = ExitCode.BUNDLE_INVALID


class UsageError(MlshipError):
    """A command line naming something that does not exist (e.g. an undeclared model)."""

    exit_code = ExitCode.USAGE
