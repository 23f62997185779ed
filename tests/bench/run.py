"""``make bench``: the API vs ``mlflow models serve`` vs a bare ASGI floor, on loopback.

Serves one registered model three ways with one uvicorn worker each, loads
each with ``wrk`` (same settings), then measures 1,000-row batches, a hot
swap under load and the cold start. Writes ``bench/results.json`` and prints
a markdown table. Bounded: about three minutes, 127.0.0.1 only.

The three servers are loaded in interleaved rounds (api, mlflow_serve, floor,
api, ...): each server's figures are medians over the rounds, and each ratio
is the median of the rounds' ratios. On a shared machine the speed drifts by
tens of percent within a minute, and a ratio of two runs taken a minute apart
would measure the drift as much as the servers.
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

from tests.bench import cpus, usage, wrk
from tests.bench.report import Round, add_ratios, goals, summarise, table
from tests.bench.servers import MODEL, ROW, Target, start_servers
from tests.support.mlflow_server import MlflowServer
from tests.support.models import iris, register_model

RESULTS = Path("bench/results.json")


@dataclass(frozen=True)
class Plan:
    """How long and how hard to load each server."""

    rounds: int = 5
    seconds: int = 4  # per server and round
    connections: int = 8

    @classmethod
    def from_environment(cls) -> Plan:
        """``BENCH_ROUNDS``, ``BENCH_SECONDS``, ``BENCH_CONNECTIONS``: positive integers."""
        values = {}
        for field in ("rounds", "seconds", "connections"):
            name = f"BENCH_{field.upper()}"
            text = os.environ.get(name)
            if text is None:
                continue
            if not text.strip().isdigit() or int(text) < 1:
                raise SystemExit(f"bench: {name} must be a positive integer, got {text!r}")
            values[field] = int(text)
        return cls(**values)


def measure(url: str, body: dict[str, Any], workdir: Path, plan: Plan) -> wrk.Load:
    """One connection's load after a warm-up (the 1,000-row batches)."""
    payload = json.dumps(body).encode()
    wrk.run(url, payload, seconds=2, connections=1, workdir=workdir)  # warm-up
    return wrk.run(url, payload, seconds=plan.seconds, connections=1, workdir=workdir)


def load_once(target: Target, payload: bytes, workdir: Path, plan: Plan) -> Round:
    """One round's load of ``target``, with the CPU time its server spent meanwhile."""
    group = target.process.pid  # each server leads its own session (``servers.server``)
    before = usage.group_cpu_seconds(group)
    load = wrk.run(
        target.url, payload, seconds=plan.seconds, connections=plan.connections, workdir=workdir
    )
    after = usage.group_cpu_seconds(group)
    spent = None if before is None or after is None else after - before
    return Round(load, spent)


def interleaved(targets: dict[str, Target], workdir: Path, plan: Plan) -> dict[str, Any]:
    """Load every target once per round, ``plan.rounds`` times; the medians over the rounds."""
    payloads = {name: json.dumps(target.body).encode() for name, target in targets.items()}
    for name, target in targets.items():  # warm-up
        wrk.run(
            target.url, payloads[name], seconds=2, connections=plan.connections, workdir=workdir
        )
    rounds: dict[str, list[Round]] = {name: [] for name in targets}
    for number in range(1, plan.rounds + 1):
        for name, target in targets.items():
            print(f"bench: round {number}/{plan.rounds}: loading {name}", flush=True)
            rounds[name].append(load_once(target, payloads[name], workdir, plan))
    return {name: summarise(entries) for name, entries in rounds.items()}


def hot_swap(api_url: str, tracking_uri: str, workdir: Path, plan: Plan) -> dict[str, Any]:
    def served() -> str:
        with urllib.request.urlopen(f"{api_url}/model", timeout=5) as response:  # noqa: S310
            return str(json.load(response)["version"])

    before = served()
    swapped: dict[str, str] = {}

    def promote() -> None:
        time.sleep(1.5)
        swapped["to"] = register_model(tracking_uri, MODEL)

    promoter = threading.Thread(target=promote)
    promoter.start()
    seconds = max(plan.seconds, 8)  # long enough for the poll, the load and the swap
    load = wrk.run(
        f"{api_url}/predict",
        json.dumps({"features": ROW}).encode(),
        seconds=seconds,
        connections=plan.connections,
        workdir=workdir,
    )
    promoter.join()
    deadline = time.monotonic() + 60
    while served() != swapped["to"] and time.monotonic() < deadline:
        time.sleep(0.2)
    return {
        "requests": load.requests,
        "errors": load.errors,
        "from_version": before,
        "to_version": swapped["to"],
        "swapped": served() == swapped["to"],
        "seconds": seconds,
    }


def batches(api_url: str, workdir: Path, plan: Plan) -> dict[str, Any]:
    features, _, _ = iris()
    rows = [features[i % len(features)].tolist() for i in range(1000)]
    batch = measure(f"{api_url}/predict/batch", {"instances": rows}, workdir, plan)
    return {
        "p50_ms": round(batch.p50_ms, 3),
        "p99_ms": round(batch.p99_ms, 3),
        "rows_per_s": round(batch.rps * 1000, 0),
        "errors": batch.errors,
    }


def run_bench(
    plan: Plan, results_path: Path = RESULTS, workdir: Path | None = None
) -> dict[str, Any]:
    """Measure everything the benchmark contract names; write and return the results.

    ``workdir`` keeps the servers' logs and the MLflow store (a new temporary
    directory by default, left in place for reading the logs).
    """
    wrk.wrk_binary()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    print(f"bench: working in {workdir}", flush=True)
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    with ExitStack() as stack:
        tracking = MlflowServer(f"sqlite:///{workdir}/mlflow.db", workdir / "mlflow").start()
        stack.callback(tracking.stop)
        register_model(tracking.uri, MODEL)
        targets = start_servers(stack, tracking.uri, workdir)
        results["cold_start_s"] = targets["api"].ready_after_s
        results |= interleaved(targets, workdir, plan)
        add_ratios(results)
        api_url = targets["api"].url.removesuffix("/predict")
        print("bench: 1,000-row batches", flush=True)
        results["batch_1000"] = batches(api_url, workdir, plan)
        print("bench: hot swap under load", flush=True)
        results["hot_swap"] = hot_swap(api_url, tracking.uri, workdir, plan)
    results["goals"] = goals(results)
    results["settings"] = {
        "connections": plan.connections,
        "seconds_per_round": plan.seconds,
        "rounds": plan.rounds,
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
