"""``mlship``: train, validate, promote, rollback, status and predict from one command."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from mlship.model.errors import ExitCode, MlshipError
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.settings import Settings
from mlship.model.thresholds import load_thresholds

SEED_EXAMPLE = "5.1,3.5,1.4,0.2"


def _version(text: str) -> str:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a version is a positive integer, not {text!r}")
    return str(int(text))


def _features(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as {SEED_EXAMPLE}, got {text!r}"
        ) from None
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"features must be finite numbers, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand's parser from resetting an option given before it.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--tracking-uri", help="MLflow tracking server (default: $MLFLOW_TRACKING_URI)"
    )
    common.add_argument("--model-name", help="registered model name (default: $MODEL_NAME)")
    common.add_argument(
        "--connect-timeout",
        type=float,
        dest="connect_timeout_seconds",
        metavar="SECONDS",
        help="how long to retry an unreachable tracking server (default 8)",
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="mlship",
        description="Train, gate, promote and roll back models in the MLflow Model Registry.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", parents=[common], help="train, log and register a new model version"
    )
    train.add_argument("--c", type=_positive_float, help="inverse regularisation strength")
    train.add_argument("--max-iter", type=int, help="solver iterations")
    train.add_argument("--seed", type=int, help="split and solver seed")
    train.add_argument("--test-size", type=float, help="held-out fraction (0-1)")
    train.add_argument("--experiment", dest="experiment_name", help="MLflow experiment name")

    validate = commands.add_parser(
        "validate", parents=[common], help="gate a version; on pass it becomes the challenger"
    )
    validate.add_argument("--version", type=_version, help="version to gate (default: latest)")
    validate.add_argument(
        "--thresholds", type=Path, metavar="FILE", help="gate policy TOML (default: packaged)"
    )
    validate.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="also write gate_report.json/.md here"
    )

    promote = commands.add_parser(
        "promote", parents=[common], help="production <- challenger (or --version); keeps previous"
    )
    promote.add_argument("--version", type=_version, help="a validated version to promote")

    commands.add_parser(
        "rollback", parents=[common], help="production <- previous (run again to undo)"
    )

    status = commands.add_parser(
        "status", parents=[common], help="aliases, versions, key metrics and gate results"
    )
    status.add_argument("--limit", type=int, default=20, help="newest versions to list")

    predict = commands.add_parser(
        "predict", parents=[common], help="classify one row with the production model"
    )
    predict.add_argument(
        "--features",
        type=_features,
        default=_features(SEED_EXAMPLE),
        metavar="X1,X2,...",
        help=f"feature values in signature order (default {SEED_EXAMPLE})",
    )
    predict.add_argument("--alias", default="production", help="alias to load")
    return parser


_SETTING_OPTIONS = (
    "tracking_uri",
    "model_name",
    "connect_timeout_seconds",
    "c",
    "max_iter",
    "seed",
    "test_size",
    "experiment_name",
)


def settings_from(arguments: argparse.Namespace) -> Settings:
    overrides = {
        key: getattr(arguments, key)
        for key in _SETTING_OPTIONS
        if getattr(arguments, key, None) is not None
    }
    return Settings(**overrides)


def _preflight(settings: Settings, arguments: argparse.Namespace) -> None:
    """Fail fast on a bad thresholds file, then on an unreachable server."""
    if arguments.command == "validate":
        load_thresholds(getattr(arguments, "thresholds", None))
    wait_for_tracking_server(settings.tracking_uri, settings.connect_timeout_seconds)


def _quiet_libraries() -> None:
    # MLflow retries a dead server for minutes by default; our own wait is bounded.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    # Keep stdout for our own output (--json must stay parseable); we print the UI URLs.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        settings = settings_from(arguments)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
            for detail in error.errors()
        )
        print(f"mlship: error: invalid settings: {problems}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    try:
        _preflight(settings, arguments)
        # Imported here: loading MLflow takes seconds that usage errors and a dead server
        # should not pay.
        from mlship.model.commands import run  # noqa: PLC0415

        _quiet_libraries()  # after the import: MLflow configures its loggers when imported
        run(settings, arguments)
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
