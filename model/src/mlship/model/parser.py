"""The ``mlship`` argument parser: commands, options and the checks on their values."""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED_EXAMPLE = "5.1,3.5,1.4,0.2"  # an Iris row: the default model's, for messages


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


def _param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``, the value read as TOML (``0.5``, ``true``, ``"lbfgs"``) or kept as text."""
    name, equals, raw = text.partition("=")
    if not equals or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as C=0.5, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return name.strip(), value


def _json_option() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand's parser from resetting an option given before it.
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return options


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(
        add_help=False, argument_default=argparse.SUPPRESS, parents=[_json_option()]
    )
    common.add_argument(
        "--tracking-uri", help="MLflow tracking server (default: $MLFLOW_TRACKING_URI)"
    )
    common.add_argument(
        "--model",
        metavar="NAME",
        help="a declared model (`mlship models`; default: $MLSHIP_MODEL, else $MODEL_NAME "
        "when it names one, else IrisClassifier)",
    )
    common.add_argument(
        "--model-name", help="registered model name (default: $MODEL_NAME, else the model's)"
    )
    common.add_argument(
        "--connect-timeout",
        type=float,
        dest="connect_timeout_seconds",
        metavar="SECONDS",
        help="how long to retry an unreachable tracking server (default 8)",
    )
    return common


_AddParser = Callable[..., argparse.ArgumentParser]


def _lifecycle_commands(add: _AddParser) -> None:
    common = _common_options()
    train = add("train", parents=[common], help="train, log and register a new model version")
    train.add_argument(
        "--param",
        dest="params",
        type=_param,
        action="append",
        metavar="NAME=VALUE",
        help="override a parameter of the classifier step (repeatable), e.g. C=0.5",
    )
    train.add_argument("--seed", type=int, help="split and estimator seed")
    train.add_argument("--test-size", type=float, help="held-out fraction (0-1)")
    train.add_argument("--experiment", dest="experiment_name", help="MLflow experiment name")

    validate = add(
        "validate", parents=[common], help="gate a version; on pass it becomes the challenger"
    )
    validate.add_argument("--version", type=_version, help="version to gate (default: latest)")
    validate.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help="a TOML file whose [gate] table replaces the model's gate policy",
    )
    validate.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="also write gate_report.json/.md here"
    )
    validate.add_argument(
        "--baseline-uri",
        metavar="URI",
        help="read production from this registry, read only (default: $MLSHIP_BASELINE_URI, "
        "else the tracking server)",
    )
    validate.add_argument(
        "--baseline-note",
        metavar="TEXT",
        help="said in the report when no baseline registry is used ($MLSHIP_BASELINE_NOTE)",
    )

    promote = add(
        "promote", parents=[common], help="production <- challenger (or --version); keeps previous"
    )
    promote.add_argument("--version", type=_version, help="a validated version to promote")

    add("rollback", parents=[common], help="production <- previous (run again to undo)")
    restore = add("restore", parents=[common], help="undo a promotion recorded by `promote --json`")
    restore.add_argument(
        "--from", dest="record", type=Path, required=True, metavar="FILE", help="that JSON"
    )

    status = add("status", parents=[common], help="aliases, versions, key metrics and gate results")
    status.add_argument("--limit", type=int, default=20, help="newest versions to list")

    predict = add("predict", parents=[common], help="classify one row with the production model")
    predict.add_argument(
        "--features",
        type=_features,
        metavar="X1,X2,...",
        help="feature values in signature order (default: the model's first smoke row)",
    )
    predict.add_argument("--alias", default="production", help="alias to load")


def _catalog_commands(add: _AddParser) -> None:
    add(
        "models",
        parents=[_json_option()],
        help="list the declared models (model/models/*.toml; no server needed)",
    )


def _bundle_commands(add: _AddParser) -> None:
    export = add(
        "export", parents=[_common_options()], help="write a gated version as a verified bundle"
    )
    export.add_argument("--version", type=_version, required=True, help="a gated version")
    export.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="new or empty directory"
    )

    verify = add(
        "verify", parents=[_json_option()], help="check a bundle's digests (no server needed)"
    )
    verify.add_argument("directory", type=Path, metavar="DIR", help="the bundle")
    verify.add_argument("--git-sha", metavar="SHA", help="the commit it must be built from")

    register = add(
        "register", parents=[_common_options()], help="verify a bundle and register it (once)"
    )
    register.add_argument("directory", type=Path, metavar="DIR", help="the bundle")
    register.add_argument("--experiment", dest="experiment_name", help="MLflow experiment name")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlship",
        description="Train, gate, promote and roll back models in the MLflow Model Registry, "
        "and carry a gated version between registries as a verified bundle.",
        parents=[_common_options()],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _lifecycle_commands(commands.add_parser)
    _catalog_commands(commands.add_parser)
    _bundle_commands(commands.add_parser)
    return parser
