"""The CLI's argument handling and its errors that need no tracking server."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlship.model.cli import build_parser, main, settings_from
from mlship.model.errors import ExitCode, TrackingServerUnreachableError
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
        (["train", "--c", "-1"], "number > 0"),
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


def test_train_options_become_settings() -> None:
    arguments = build_parser().parse_args(
        ["train", "--c", "0.5", "--max-iter", "10", "--seed", "3"]
    )
    settings = settings_from(arguments)
    assert (settings.c, settings.max_iter, settings.seed) == (0.5, 10, 3)


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
    thresholds.write_text('[[metric]]\nname = "accuracy"\ndirection = "up"\nbound = 1\n')
    unreachable = f"http://127.0.0.1:{free_port()}"
    code = main(["validate", "--thresholds", str(thresholds), "--tracking-uri", unreachable])
    assert code == ExitCode.BAD_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlship: error: thresholds file")
    assert "metric #1 (line 1).direction" in err


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
