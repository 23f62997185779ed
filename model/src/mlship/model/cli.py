"""``mlship``: train, validate, promote, rollback, status, predict and bundles from one command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from mlship.model.alias_record import read_promotion_record
from mlship.model.catalog import Catalog, select
from mlship.model.config_files import problems
from mlship.model.errors import BadConfigError, ExitCode, MlshipError
from mlship.model.manifest import require_new_directory, verify_bundle
from mlship.model.parser import build_parser
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.settings import Settings
from mlship.model.spec import BundledData, ModelSpec
from mlship.model.thresholds import load_policy_file

__all__ = ["build_parser", "main", "settings_from"]

_SETTING_OPTIONS = (
    "tracking_uri",
    "model",
    "model_name",
    "connect_timeout_seconds",
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
    if command == "validate" and getattr(arguments, "thresholds", None) is not None:
        load_policy_file(arguments.thresholds)
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


def _models(arguments: argparse.Namespace) -> None:
    """``mlship models``: the declared models, checked; no server, no MLflow import."""
    rows = [_summary(spec) for spec in Catalog.discover().specs()]
    if getattr(arguments, "json", False):
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['name']}  ({row['file']})")
        if row["description"]:
            print(f"  {row['description']}")
        print(
            f"  data {row['data']}: {len(row['features'])} features, classes "
            f"{', '.join(row['classes'])}; pipeline {row['pipeline']}; "
            f"contract_version {row['contract_version']}"
        )


def _summary(spec: ModelSpec) -> dict[str, Any]:
    data = spec.data
    source = data.dataset if isinstance(data, BundledData) else data.path
    return {
        "name": spec.name,
        "file": spec.source,
        "description": spec.description,
        "data": f"{data.loader}:{source}",
        "features": list(data.features),
        "classes": list(data.classes),
        "pipeline": " + ".join(step.estimator.rpartition(".")[2] for step in spec.pipeline),
        "contract_version": spec.contract_version,
        "experiment": spec.experiment,
        "gate_metrics": list(spec.gate.metrics),
        "example": list(spec.smoke[0].features),  # a row the model must classify
    }


def _needs_spec(settings: Settings, arguments: argparse.Namespace) -> bool:
    # Alias moves and status need only the registered name: with MODEL_NAME set they work
    # where no specification is at hand (an image with the CLI alone).
    if arguments.command in ("train", "validate", "register"):
        return True
    if arguments.command == "predict" and getattr(arguments, "features", None) is None:
        return True
    return bool(settings.model) or not settings.model_name


def _chosen(settings: Settings, arguments: argparse.Namespace) -> tuple[ModelSpec | None, Settings]:
    if not _needs_spec(settings, arguments):
        return None, settings
    spec, settings = select(settings)
    try:
        spec = spec.with_params(dict(getattr(arguments, "params", None) or []))
    except ValidationError as error:
        raise BadConfigError(f"--param: {problems(error)}") from None
    return spec, settings


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
    if arguments.command == "models":
        _models(arguments)
        return
    spec, settings = _chosen(settings_from(arguments), arguments)
    _preflight(settings, arguments)
    # Imported here: loading MLflow takes seconds that usage errors and a dead server
    # should not pay.
    from mlship.model.commands import run  # noqa: PLC0415

    _quiet_libraries()  # after the import: MLflow configures its loggers when imported
    run(settings, spec, arguments)


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
