"""A one-round ``make bench`` against the real servers: every figure is written and consistent.

Speed itself is never asserted here (the machine's speed is not the code's);
``make bench`` measures it. This guards the harness: the servers start, answer
every request, and the results hold what the benchmark contract names. MLServer
is left out to keep the run short (``make bench`` always includes it).
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from tests.bench import goals, mlserver
from tests.bench.models import BenchModel
from tests.bench.plan import Plan
from tests.bench.report import find, paired_ratios, table
from tests.bench.run import best_config, run_bench
from tests.support.components import missing

CONTRACT_KEYS = {"server", "model", "endpoint", "connections", "rps", "p50_ms", "p99_ms",
                 "errors", "cpu_us_per_request"}  # fmt: skip
# (server, endpoint, connections, path) of every load on a model, MLServer left out.
EXPECTED = {
    *((server, "predict", c, path) for c in (8, 64)
      for server, path in (("api", "/predict"), ("floor", "/predict"),
                           ("mlflow_serve", "/invocations"))),
    *(("api", "v2", c, "/v2/models/{name}/infer") for c in (8, 64)),
    ("api", "batch_1000", 1, "/predict/batch"),
    ("api", "batch_1000", 1, "/v2/models/{name}/infer"),
    ("mlflow_serve", "batch_1000", 1, "/invocations"),
}  # fmt: skip


@pytest.mark.integration
@pytest.mark.slow
def test_a_one_round_bench_writes_every_figure(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        missing("wrk", "apt-get install wrk")
    path = tmp_path / "results.json"
    workdir = tmp_path / "work"
    workdir.mkdir()
    plan = Plan(rounds=1, seconds=1, mlserver=False)
    results = run_bench(plan, path, workdir)

    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    runs = results["runs"]
    for model, name in (("iris", "IrisClassifier"), ("forest", "BreastCancerForest")):
        found = {
            (run["server"], run["endpoint"], run["connections"], run["path"])
            for run in runs
            if run["model"] == model
        }
        assert found == {(*key[:3], key[3].format(name=name)) for key in EXPECTED}, model
    for run in runs:
        assert set(run) >= CONTRACT_KEYS, run
        assert run["errors"] == 0, run
        assert run["requests"] > 0, run
        assert run["rounds_rps"] == [run["rps"]], run
        assert run["cpu_us_per_request"] > 0, run

    report = results["goals"]
    assert set(report) == set(goals.GOALS)
    for name, goal in report.items():
        direction, target = goals.GOALS[name]
        value = goal["value"]
        if value is None:
            assert goal["met"] is None, name
            assert results["goal_notes"][name], name
        else:
            assert goal["met"] is (value >= target if direction == ">=" else value <= target)
    for name in goals.MLSERVER_GOALS:
        assert report[name]["value"] is None, name
    for model in ("iris", "forest"):
        v2 = find(runs, server="api", model=model, endpoint="v2", connections=8)
        predict = find(runs, server="api", model=model, endpoint="predict", connections=8)
        assert v2 is not None
        assert predict is not None
        expected = round(v2["rps"] / predict["rps"], 3)
        assert report[f"v2_vs_predict_{model}"]["value"] == pytest.approx(expected, abs=0.001)
    api = find(runs, server="api", model="iris", endpoint="predict", connections=8)
    floor = find(runs, server="floor", model="iris", endpoint="predict", connections=8)
    assert api is not None
    assert floor is not None
    expected_cpu = round(api["cpu_us_per_request"] / floor["cpu_us_per_request"], 3)
    assert report["cpu_vs_floor_predict_iris"]["value"] == pytest.approx(expected_cpu, abs=0.01)
    assert report["api_src_lines"]["value"] == goals.api_src_lines() > 0

    swap = results["hot_swap"]
    assert swap["swapped"], swap
    assert swap["errors"] == 0, swap
    assert swap["to_version"] != swap["from_version"]
    assert set(results["cold_start_s"]) == {"api", "mlflow_serve"}
    assert all(seconds > 0 for seconds in results["cold_start_s"].values())
    assert results["settings"]["rounds"] == 1
    assert results["mlserver"]["included"] is False
    assert "| iris | predict | 8 | api | /predict |" in table(results)


@pytest.mark.unit
def test_bad_bench_settings_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_ROUNDS", "three")
    with pytest.raises(SystemExit, match="BENCH_ROUNDS must be a positive integer, got 'three'"):
        Plan.from_environment()
    monkeypatch.setenv("BENCH_ROUNDS", "0")
    with pytest.raises(SystemExit, match="BENCH_ROUNDS"):
        Plan.from_environment()
    monkeypatch.setenv("BENCH_ROUNDS", "2")
    monkeypatch.setenv("BENCH_SECONDS", "3")
    monkeypatch.setenv("BENCH_SWEEP_SECONDS", "-1")
    with pytest.raises(SystemExit, match="BENCH_SWEEP_SECONDS"):
        Plan.from_environment()
    monkeypatch.setenv("BENCH_SWEEP_SECONDS", "2")
    assert Plan.from_environment() == Plan(rounds=2, seconds=3, sweep_seconds=2, mlserver=True)


@pytest.mark.unit
def test_ratios_are_medians_of_the_rounds() -> None:
    # Paired by round: a drift that slows both servers in round 2 cancels out.
    assert paired_ratios([100.0, 50.0, 90.0], [200.0, 100.0, 150.0]) == [0.5, 0.5, 0.6]
    assert statistics.median(paired_ratios([1.0, None], [2.0, 4.0])) == 0.5


@pytest.mark.unit
def test_goals_are_met_by_direction_and_unmeasured_ones_are_null() -> None:
    found = dict.fromkeys(goals.GOALS, None) | {
        "v2_vs_mlserver_iris": 10.0,  # >= 10: met at the target
        "v2_vs_predict_iris": 0.79,
        "cpu_vs_floor_predict_iris": 3.0,  # <= 3: met at the target
        "hot_swap_errors": 1,
    }
    report = goals.evaluate(found)
    assert report["v2_vs_mlserver_iris"] == {"value": 10.0, "goal": ">= 10", "met": True}
    assert report["v2_vs_predict_iris"]["met"] is False
    assert report["cpu_vs_floor_predict_iris"]["met"] is True
    assert report["hot_swap_errors"] == {"value": 1, "goal": "<= 0", "met": False}
    assert report["image_layers_mb"] == {"value": None, "goal": "<= 150", "met": None}


@pytest.mark.unit
def test_the_best_mlserver_configuration_is_the_fastest_without_errors() -> None:
    names = [config.name for config in mlserver.CONFIGS]
    assert len(set(names)) == 4
    figures = [
        {"name": names[0], "rps": 900.0, "errors": 3},
        {"name": names[1], "rps": 500.0, "errors": 0},
        {"name": names[2], "rps": 400.0, "errors": 0},
    ]
    assert best_config(figures).name == names[1]


@pytest.mark.unit
def test_an_mlserver_repository_serves_the_pipeline_under_its_configuration(
    tmp_path: Path,
) -> None:
    model = BenchModel("iris", "BenchIris", "1", ["a", "b"], [[1.0, 2.0]])
    config = mlserver.Config(adaptive_batching=True, parallel_workers=0)
    root = mlserver.repository(tmp_path, model, tmp_path / "model.joblib", config)
    settings = json.loads((root / "settings.json").read_text())
    assert settings["parallel_workers"] == 0
    assert settings["debug"] is False
    assert len({settings["http_port"], settings["grpc_port"], settings["metrics_port"]}) == 3
    model_settings = json.loads((root / "BenchIris" / "model-settings.json").read_text())
    assert model_settings["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert model_settings["parameters"]["uri"] == str(tmp_path / "model.joblib")
    assert model_settings["max_batch_size"] == mlserver.MAX_BATCH_SIZE
    default = mlserver.Config(adaptive_batching=False, parallel_workers=None)
    root = mlserver.repository(tmp_path, model, tmp_path / "model.joblib", default)
    assert "parallel_workers" not in json.loads((root / "settings.json").read_text())


@pytest.mark.unit
def test_the_image_layers_are_those_from_the_final_stage_on() -> None:
    dockerfile = (
        "FROM base AS build\nRUN make\n\nFROM base\n# comment\nENV A=1 \\\n    B=2\nCOPY x y\n"
    )
    marker = goals.first_instruction(dockerfile)
    assert marker == "ENV A=1"
    history = "0|CMD run\n2000000|COPY dir in y\n0|/bin/sh -c #(nop)  ENV A=1 B=2\n9000000|\n"
    assert goals.own_layers_bytes(history, marker) == 2_000_000
    assert goals.own_layers_bytes(history, "ENV C=3") is None
