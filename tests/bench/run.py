"""``make bench``: the API vs MLServer vs ``mlflow models serve`` vs a bare ASGI floor.

For each model (Iris, then the breast-cancer forest) it starts every server
alone on loopback (its cold start), measures MLServer's configurations and
keeps its best, then loads every server, endpoint and connection count in
interleaved rounds (``loads``); on Iris it also moves the alias under load (the
hot swap). Writes ``bench/results.json`` (the benchmark contract's shape) and
prints a markdown table with the goal lines. Bounded: 127.0.0.1 only, about
eight minutes with the defaults (``plan.Plan``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import cpus, goals, mlserver, wrk
from tests.bench.loads import Load, check, check_all, interleaved, model_loads, run_once, warm_up
from tests.bench.models import (
    KEYS,
    BenchModel,
    challenger,
    dump_joblib,
    mlship,
    predict_body,
    register,
    v2_body,
)
from tests.bench.plan import BATCH_CONNECTIONS, SINGLE_CONNECTIONS, Plan
from tests.bench.report import summarise, table
from tests.bench.servers import Started, start_api, start_floor, start_mlflow_serve
from tests.support.mlflow_server import MlflowServer

RESULTS = Path("bench/results.json")
FIGURES = ("rps", "p50_ms", "p99_ms", "errors", "cpu_us_per_request")


@dataclass(frozen=True)
class Bench:
    """What every step of one run shares."""

    tracking_uri: str
    plan: Plan
    workdir: Path
    mlserver_home: Path | None  # MLServer's venv; None: left out of this run


def sweep(bench: Bench, home: Path, model: BenchModel, pipeline: Path) -> list[dict[str, Any]]:
    """Each MLServer configuration, alone, briefly: V2 single rows at 8 connections."""
    figures = []
    for config in mlserver.CONFIGS:
        with ExitStack() as stack:
            started = mlserver.start(
                stack, home, model, pipeline=pipeline, config=config, workdir=bench.workdir
            )
            url = started.url + model.v2_path
            load = Load("mlserver", model.key, "v2", 8, url, v2_body(model, model.rows[:1]),
                        started.process)  # fmt: skip
            check(load)
            warm_up(load, bench.plan, bench.workdir)
            summary = summarise([run_once(load, bench.plan.sweep_seconds, bench.workdir)])
        figures.append(
            {"model": model.key, **config.describe(), "cold_start_s": started.cold_start_s}
            | {key: summary[key] for key in FIGURES}
        )
    return figures


def best_config(figures: list[dict[str, Any]]) -> mlserver.Config:
    answered = [entry for entry in figures if entry["errors"] == 0] or figures
    best = max(answered, key=lambda entry: entry["rps"])["name"]
    return next(config for config in mlserver.CONFIGS if config.name == best)


def hot_swap(bench: Bench, api: Started, model: BenchModel) -> dict[str, Any]:
    """A new version registered and promoted while ``api`` is under load."""

    def served() -> str:
        with urllib.request.urlopen(f"{api.url}/model", timeout=5) as response:  # noqa: S310
            return str(json.load(response)["version"])

    before = served()
    swapped = {"to": challenger(bench.tracking_uri, model.key)}  # trained and gated beforehand

    def promote() -> None:
        time.sleep(1.5)
        mlship(bench.tracking_uri, model.key, "promote")  # the alias moves under load

    promoter = threading.Thread(target=promote)
    promoter.start()
    seconds = max(bench.plan.seconds, 8)  # long enough for the poll, the load and the swap
    load = wrk.run(f"{api.url}/predict", predict_body(model), seconds=seconds, connections=8,
                   workdir=bench.workdir)  # fmt: skip
    promoter.join()
    deadline = time.monotonic() + 60
    while served() != swapped["to"] and time.monotonic() < deadline:
        time.sleep(0.2)
    return {"requests": load.requests, "errors": load.errors, "from_version": before,
            "to_version": swapped["to"], "swapped": served() == swapped["to"],
            "seconds": seconds}  # fmt: skip


def phase(bench: Bench, model: BenchModel, results: dict[str, Any]) -> None:
    """Everything measured on ``model``, added to ``results``."""
    print(f"bench: {model.key} ({model.name} v{model.version})", flush=True)
    workdir, home = bench.workdir, bench.mlserver_home
    with ExitStack() as stack:
        servers = {  # started one after the other: each cold start is measured alone
            "api": start_api(stack, bench.tracking_uri, model, workdir),
            "mlflow_serve": start_mlflow_serve(stack, bench.tracking_uri, model, workdir),
            "floor": start_floor(stack, model, workdir),
        }
        chosen = None
        if home is not None:
            pipeline = dump_joblib(model, workdir / f"pipeline-{model.key}")
            figures = sweep(bench, home, model, pipeline)
            config = best_config(figures)
            results["mlserver"]["configurations"] += figures
            results["mlserver"]["best"][model.key] = config.name
            chosen = mlserver.start(
                stack, home, model, pipeline=pipeline, config=config, workdir=workdir
            )
            servers["mlserver"] = chosen
        results["cold_start_s_by_model"][model.key] = {
            name: started.cold_start_s for name, started in servers.items() if name != "floor"
        }
        loads = model_loads(model, servers, chosen)
        difference = check_all(loads)
        if difference is not None:
            results["mlserver"]["v2_max_probability_difference"][model.key] = difference
        rounds = interleaved(loads, bench.plan, workdir)
        results["runs"] += [
            load.describe() | summarise(r) for load, r in zip(loads, rounds, strict=True)
        ]
        if model.key == "iris":
            print("bench: hot swap under load", flush=True)
            results["hot_swap"] = hot_swap(bench, servers["api"], model)


def run_bench(
    plan: Plan, results_path: Path = RESULTS, workdir: Path | None = None
) -> dict[str, Any]:
    """Measure everything the benchmark contract names; write and return the results.

    ``workdir`` keeps the servers' logs and the MLflow store (a new temporary
    directory by default, left in place for reading the logs).
    """
    wrk.wrk_binary()
    home = mlserver.environment() if plan.mlserver else None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    print(f"bench: working in {workdir}", flush=True)
    results: dict[str, Any] = {
        "runs": [],
        "mlserver": {
            "included": plan.mlserver,
            "configurations": [],
            "best": {},
            "v2_max_probability_difference": {},
        },
        "cold_start_s_by_model": {},
        "load_average_at_start": os.getloadavg(),
    }
    with ExitStack() as stack:
        tracking = MlflowServer(f"sqlite:///{workdir}/mlflow.db", workdir / "mlflow").start()
        stack.callback(tracking.stop)
        models = [register(tracking.uri, key) for key in KEYS]
        bench = Bench(tracking.uri, plan, workdir, home)
        for model in models:
            phase(bench, model, results)
    results["cold_start_s"] = results["cold_start_s_by_model"]["iris"]
    found, results["goal_notes"] = goals.values(results, plan.mlserver)
    results["goals"] = goals.evaluate(found)
    results["settings"] = {
        "rounds": plan.rounds,
        "seconds_per_round": plan.seconds,
        "sweep_seconds": plan.sweep_seconds,
        "single_row_connections": list(SINGLE_CONNECTIONS),
        "batch_connections": BATCH_CONNECTIONS,
        "workers": 1,
        "cpus": cpus.describe(),
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    results_path = Path(os.environ.get("BENCH_RESULTS") or RESULTS)
    results = run_bench(Plan.from_environment(), results_path)
    print(table(results))
    print(f"\nbench: wrote {results_path}")


if __name__ == "__main__":
    main()
