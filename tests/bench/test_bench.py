"""A one-round ``make bench`` against the real servers: every figure is written and consistent.

Speed itself is never asserted here (the machine's speed is not the code's);
``make bench`` measures it. This guards the harness: the three servers start,
answer every request, and the results hold what the benchmark contract names.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from tests.bench.report import GOALS, SERVERS, paired_ratios
from tests.bench.run import Plan, run_bench
from tests.support.components import missing


@pytest.mark.integration
@pytest.mark.slow
def test_a_one_round_bench_writes_every_figure(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        missing("wrk", "apt-get install wrk")
    path = tmp_path / "results.json"
    workdir = tmp_path / "work"
    workdir.mkdir()
    results = run_bench(Plan(rounds=1, seconds=1), path, workdir)

    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    for name in SERVERS:
        server = results[name]
        assert server["errors"] == 0, (name, server)
        assert server["requests"] > 0, (name, server)
        assert len(server["rounds_rps"]) == 1
        assert server["rps"] == server["rounds_rps"][0]
        assert server["cpu_us_per_request"] > 0, (name, server)
    api, floor = results["api"], results["floor"]
    assert results["ratio_vs_floor"] == round(api["rps"] / floor["rps"], 3)
    assert results["ratio_vs_mlflow"] == round(api["rps"] / results["mlflow_serve"]["rps"], 3)
    expected_cpu_ratio = round(floor["cpu_us_per_request"] / api["cpu_us_per_request"], 3)
    assert results["cpu_ratio_vs_floor"] == pytest.approx(expected_cpu_ratio, abs=0.001)

    assert results["batch_1000"]["errors"] == 0
    assert results["batch_1000"]["rows_per_s"] > 0
    swap = results["hot_swap"]
    assert swap["swapped"], swap
    assert swap["errors"] == 0, swap
    assert swap["to_version"] != swap["from_version"]
    assert results["cold_start_s"] > 0

    assert set(results["goals"]) == set(GOALS)
    for name, goal in results["goals"].items():
        direction, target = GOALS[name]
        value = goal["value"]
        assert goal["met"] is (value >= target if direction == ">=" else value <= target)
    assert results["settings"]["rounds"] == 1


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
    assert Plan.from_environment() == Plan(rounds=2, seconds=3, connections=8)


@pytest.mark.unit
def test_ratios_are_medians_of_the_rounds() -> None:
    # Paired by round: a drift that slows both servers in round 2 cancels out.
    assert paired_ratios([100.0, 50.0, 90.0], [200.0, 100.0, 150.0]) == [0.5, 0.5, 0.6]
    assert statistics.median(paired_ratios([1.0, None], [2.0, 4.0])) == 0.5
