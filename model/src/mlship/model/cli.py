"""``mlship``: train, validate, promote, rollback, status, predict and bundles from one command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from mlship.model.alias_record import read_promotion_record
from mlship.model.errors import BadConfigError, ExitCode, MlshipError
from mlship.model.manifest import require_new_directory, verify_bundle
from mlship.model.parser import build_parser
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.settings import Settings
from mlship.model.thresholds import load_thresholds

__all__ = ["build_parser", "main", "settings_from"]

_SETTING_OPTIONS = (
    "tracking_uri",
    "model_name",
    "connect_timeout_seconds",
    "c",
    "max_iter",
    "seed",
    "test_size",
    "experiment_name",
    "baseline_uri",
    "baseline_note",
)


def settings_from(arguments: argparse.Namespace) -> Settings:
    overrides = {
        key: getattr(arguments, key)
        for key in _SETTING_OPTIONS
        if getattr(arguments, key, None) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
            for detail in error.errors()
        )
        raise BadConfigError(f"invalid settings: {problems}") from None


def _preflight(settings: Settings, arguments: argparse.Namespace) -> None:
    """Fail fast on bad local input (policy, bundle, record), then on an unreachable server."""
    command = arguments.command
    if command == "validate":
        load_thresholds(getattr(arguments, "thresholds", None))
    elif command == "export":
        require_new_directory(arguments.out)
    elif command == "register":
        verify_bundle(arguments.directory)
    elif command == "restore":
        read_promotion_record(arguments.record)
    wait_for_tracking_server(settings.tracking_uri, settings.connect_timeout_seconds)


def _verify(arguments: argparse.Namespace) -> None:
    """``mlship verify``: no settings, no server, no MLflow import; a bundle checks itself."""
    bundle = verify_bundle(arguments.directory, getattr(arguments, "git_sha", None))
    if getattr(arguments, "json", False):
        print(json.dumps(bundle.summary(), indent=2, sort_keys=True))
    else:
        print(bundle.describe("verified"))


def _quiet_libraries() -> None:
    # MLflow retries a dead server for minutes by default; our own wait is bounded.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    # Keep stdout for our own output (--json must stay parseable); we print the UI URLs.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _run(arguments: argparse.Namespace) -> None:
    if arguments.command == "verify":
        _verify(arguments)
        return
    settings = settings_from(arguments)
    _preflight(settings, arguments)
    # Imported here: loading MLflow takes seconds that usage errors and a dead server
    # should not pay.
    from mlship.model.commands import run  # noqa: PLC0415

    _quiet_libraries()  # after the import: MLflow configures its loggers when imported
    run(settings, arguments)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        _run(arguments)
    except MlshipError as error:
        print(f"mlship: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("mlship: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mlship status | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
