"""The ``mlship`` subcommands: call the lifecycle functions and print their results."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mlflow.exceptions import MlflowException

from mlship.model.alias_record import read_promotion_record
from mlship.model.bundle import export_bundle, register_bundle
from mlship.model.connection import ui_url
from mlship.model.errors import GateFailedError, MlshipError
from mlship.model.prediction import predict
from mlship.model.registry import promote, rollback, status, status_table
from mlship.model.restore import restore
from mlship.model.settings import Settings
from mlship.model.spec import ModelSpec
from mlship.model.thresholds import load_policy_file
from mlship.model.training import train_and_register
from mlship.model.uris import public_uri
from mlship.model.validation import validate


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def _train(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    result = train_and_register(settings, spec)
    if getattr(arguments, "json", False):
        _print_json(asdict(result))
        return
    metrics = "  ".join(
        f"{key} {result.metrics[key]:.4f}" for key in ("accuracy", "f1_macro", "log_loss")
    )
    print(
        f"registered {result.model_name} version {result.version} (run {result.run_id}), "
        f"model {result.spec}"
    )
    print(f"  {metrics}")
    print(f"  data sha256 {result.data_sha256[:16]}  git {result.git_sha[:12]}")
    print(f"  {ui_url(settings, result.model_name, result.version)}")


def _validate(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    thresholds = getattr(arguments, "thresholds", None)
    report = validate(
        settings,
        load_policy_file(thresholds) if thresholds is not None else None,
        getattr(arguments, "version", None),
        getattr(arguments, "report_dir", None),
        spec,
    )
    if getattr(arguments, "json", False):
        _print_json(report.to_dict())
    else:
        print(report.to_markdown())
    if not report.passed:
        failing = ", ".join(check.name for check in report.failing)
        raise GateFailedError(
            f"version {report.version} of {report.model_name!r} failed the gate: {failing}; "
            "aliases unchanged"
        )
    if not getattr(arguments, "json", False):
        print(f"version {report.version} is now the challenger")


def _move(action: Callable[[], Any], arguments: argparse.Namespace) -> None:
    move = action()
    if getattr(arguments, "json", False):
        _print_json(asdict(move))
    else:
        print(move.message)


def _promote(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    _move(lambda: promote(settings, getattr(arguments, "version", None)), arguments)


def _rollback(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    _move(lambda: rollback(settings), arguments)


def _restore(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    _move(lambda: restore(settings, read_promotion_record(arguments.record)), arguments)


def _export(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    bundle = export_bundle(settings, arguments.version, arguments.out)
    if getattr(arguments, "json", False):
        _print_json(bundle.summary())
    else:
        print(bundle.describe("written"))


def _register(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    registration = register_bundle(settings, arguments.directory)
    if getattr(arguments, "json", False):
        _print_json(asdict(registration))
        return
    done = "registered" if registration.created else "already registered"
    print(
        f"{done}: bundle {registration.bundle_sha256[:16]} is version {registration.version} "
        f"of {registration.model_name} (run {registration.run_id})"
    )
    print(f"  gate it here next: mlship validate --version {registration.version}")
    print(f"  {ui_url(settings, registration.model_name, registration.version)}")


def _status(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    document = status(settings, limit=arguments.limit)
    if getattr(arguments, "json", False):
        _print_json(document)
    else:
        print(status_table(document))


def _predict(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    features = arguments.features
    if features is None and spec is not None:  # cli.py selects the model for this case
        features = list(spec.smoke[0].features)
    result = predict(settings, features, alias=arguments.alias)
    if getattr(arguments, "json", False):
        _print_json(asdict(result))
        return
    probabilities = ", ".join(f"{name} {value:.3f}" for name, value in result.probabilities.items())
    features = " ".join(f"{name}={value:g}" for name, value in result.features.items())
    print(f"model:         {result.model_uri} (version {result.version})")
    print(f"input:         {features}")
    print(f"prediction:    {result.class_name}")
    print(f"probabilities: {probabilities}")
    print(f"MLflow UI:     {result.ui_url}")


_COMMANDS: dict[str, Callable[[Settings, ModelSpec | None, argparse.Namespace], None]] = {
    "train": _train,
    "validate": _validate,
    "promote": _promote,
    "rollback": _rollback,
    "restore": _restore,
    "export": _export,
    "register": _register,
    "status": _status,
    "predict": _predict,
}


def run(settings: Settings, spec: ModelSpec | None, arguments: argparse.Namespace) -> None:
    """Run the chosen subcommand on ``spec`` (None: a command that needs only the
    registered name); MLflow's own errors become one-line errors."""
    try:
        _COMMANDS[arguments.command](settings, spec, arguments)
    except MlflowException as error:
        first_line = (error.message or str(error)).strip().splitlines()[0]
        raise MlshipError(f"MLflow ({public_uri(settings.tracking_uri)}): {first_line}") from None
