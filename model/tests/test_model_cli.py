"""The CLI's argument handling and its errors that need no tracking server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlship.model.cli import build_parser, main, settings_from
from mlship.model.errors import ExitCode, TrackingServerUnreachableError, UsageError
from mlship.model.reachability import wait_for_tracking_server
from tests.support.components import free_port

pytestmark = pytest.mark.unit

COMMANDS = (
    "train",
    "validate",
    "promote",
    "rollback",
    "restore",
    "status",
    "predict",
    "export",
    "register",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"mlship {command}" in out
    assert "--tracking-uri" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "COMMAND"),
        (["deploy"], "invalid choice"),
        (["validate", "--version", "x"], "positive integer"),
        (["promote", "--version", "0"], "positive integer"),
        (["predict", "--features", "1,two,3,4"], "comma-separated numbers"),
        (["predict", "--features", "1,nan,3,4"], "finite"),
        (["train", "--param", "C"], "expected NAME=VALUE"),
        (["status", "--limit", "many"], "invalid int value"),
        (["export", "--out", "bundle"], "the following arguments are required: --version"),
        (["export", "--version", "3"], "the following arguments are required: --out"),
        (["verify"], "the following arguments are required: DIR"),
        (["verify", "b", "--tracking-uri", "http://x"], "unrecognized arguments"),
        (["register"], "the following arguments are required: DIR"),
        (["restore"], "the following arguments are required: --from"),
    ],
)
def test_argument_errors_exit_2_with_a_message(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == ExitCode.USAGE
    assert complaint in capsys.readouterr().err


def test_options_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--tracking-uri", "http://a:1", "status"])
    after = parser.parse_args(["status", "--tracking-uri", "http://b:2", "--model-name", "M"])
    assert settings_from(before).tracking_uri == "http://a:1"
    assert settings_from(after).tracking_uri == "http://b:2"
    assert settings_from(after).model_name == "M"


def test_train_options_become_settings_and_params() -> None:
    arguments = build_parser().parse_args(
        ["train", "--param", "C=0.5", "--param", "solver='lbfgs'", "--seed", "3"]
    )
    settings = settings_from(arguments)
    assert settings.seed == 3
    assert arguments.params == [("C", 0.5), ("solver", "lbfgs")]
    bare = build_parser().parse_args(["train", "--param", "solver=saga"])
    assert bare.params == [("solver", "saga")]  # not TOML: kept as text


def test_models_lists_the_declared_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == ExitCode.OK
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["IrisClassifier"]["pipeline"] == "StandardScaler + LogisticRegression"
    assert listed["BreastCancerForest"]["data"] == "sklearn:breast_cancer"
    assert len(listed["BreastCancerForest"]["features"]) == 30
    assert listed["IrisClassifier"]["file"].endswith("models/iris.toml")
    assert main(["models"]) == ExitCode.OK
    out = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["models", "--help"])
    assert "--tracking-uri" not in capsys.readouterr().out  # no server involved
    assert "IrisClassifier  (" in out
    assert "iris.toml)" in out
    assert "30 features, classes malignant, benign" in out


@pytest.mark.parametrize("command", ["train", "validate", "promote", "rollback", "status"])
def test_an_unknown_model_exits_2_listing_the_known_ones(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert main([command, "--model", "Nope", "--tracking-uri", unreachable]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.strip() == (
        "mlship: error: unknown model 'Nope': the declared models are "
        "BreastCancerForest, IrisClassifier"
    )


def test_a_bad_param_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    code = main(["train", "--param", "depth=3", "--tracking-uri", unreachable])
    assert code == ExitCode.BAD_CONFIG
    err = capsys.readouterr().err
    assert "--param: " in err
    assert "LogisticRegression takes no parameter depth" in err
    assert "Traceback" not in err


def test_the_model_picks_the_registered_name_unless_one_is_given() -> None:
    from mlship.model.catalog import select  # noqa: PLC0415

    forest = settings_from(build_parser().parse_args(["status", "--model", "BreastCancerForest"]))
    spec, completed = select(forest)
    assert (spec.name, completed.model_name) == ("BreastCancerForest",) * 2
    assert completed.experiment_name == "mlship-breast-cancer"
    named = settings_from(build_parser().parse_args(["status", "--model-name", "Mine"]))
    spec, completed = select(named)
    assert (spec.name, completed.model_name) == ("IrisClassifier", "Mine")
    by_name = settings_from(
        build_parser().parse_args(["status", "--model-name", "BreastCancerForest"])
    )
    assert select(by_name)[0].name == "BreastCancerForest"
    crossed = build_parser().parse_args(
        ["train", "--model", "BreastCancerForest", "--model-name", "IrisClassifier"]
    )
    with pytest.raises(UsageError, match="conflicts with MODEL_NAME/--model-name"):
        select(settings_from(crossed))


def test_invalid_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLSHIP_TEST_SIZE", "2")
    assert main(["status"]) == ExitCode.BAD_CONFIG
    err = capsys.readouterr().err
    assert "test_size" in err
    assert "Traceback" not in err


def test_malformed_thresholds_fail_before_contacting_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thresholds = tmp_path / "gate.toml"
    thresholds.write_text('[gate.metrics.accuracy]\nthreshold = 1\ngreater_is_better = "up"\n')
    unreachable = f"http://127.0.0.1:{free_port()}"
    code = main(["validate", "--thresholds", str(thresholds), "--tracking-uri", unreachable])
    assert code == ExitCode.BAD_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlship: error: thresholds file")
    assert "gate.metrics.accuracy.greater_is_better: Input should be a valid boolean" in err


def test_unreachable_server_is_named_after_bounded_retries() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with pytest.raises(TrackingServerUnreachableError) as caught:
        wait_for_tracking_server(uri, 8.0, sleep=sleep, clock=lambda: now[0])
    assert uri in str(caught.value)
    assert "make mlflow" in str(caught.value)
    assert waits[:4] == [0.25, 0.5, 1.0, 2.0]  # exponential backoff, capped
    assert max(waits) == 2.0
    assert sum(waits) == pytest.approx(8.0)


def test_local_stores_need_no_server() -> None:
    wait_for_tracking_server("sqlite:///nowhere.db", 0.0)


def test_verify_has_help_without_server_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["verify", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--git-sha" in out
    assert "--tracking-uri" not in out


def test_baseline_options_become_settings() -> None:
    arguments = build_parser().parse_args(
        ["validate", "--baseline-uri", "http://prod:5000", "--baseline-note", "fork: no access"]
    )
    settings = settings_from(arguments)
    assert (settings.baseline_uri, settings.baseline_note) == (
        "http://prod:5000",
        "fork: no access",
    )
    assert settings_from(build_parser().parse_args(["validate"])).baseline_uri is None


def test_credentials_never_reach_the_unreachable_message() -> None:
    port = free_port()
    uri = f"http://delivery:s3cret@127.0.0.1:{port}"  # pragma: allowlist secret
    with pytest.raises(TrackingServerUnreachableError) as caught:
        wait_for_tracking_server(uri, 0.2)
    assert f"http://127.0.0.1:{port} is unreachable" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "Connection refused" in str(caught.value)  # probed at the host, not at "delivery:..."
