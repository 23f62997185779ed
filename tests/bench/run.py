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
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.bench import cpus, wrk
from tests.support.components import free_port
from tests.support.mlflow_server import MlflowServer
from tests.support.models import FEATURES, iris, register_model

SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
RESULTS = Path("bench/results.json")
MODEL = "BenchIris"
ROW = [5.1, 3.5, 1.4, 0.2]
GOALS = {
    "ratio_vs_mlflow": (">=", 10.0),
    "ratio_vs_floor": (">=", 0.6),
    "api_p99_ms": ("<=", 10.0),
    "batch_1000_p50_ms": ("<=", 20.0),
    "hot_swap_errors": ("<=", 0),
    "cold_start_s": ("<=", 5.0),
}


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_status(url: str, timeout: float, process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"bench: the server for {url} exited ({process.returncode})")
        if status(url) == 200:
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"bench: {url} not ready after {timeout:.0f}s")


@contextmanager
def server(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            cpus.as_server(command),
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("API_", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR"))
    }


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def measure(
    url: str, body: dict[str, Any], workdir: Path, connections: int = CONNECTIONS
) -> wrk.Load:
    payload = json.dumps(body).encode()
    wrk.run(url, payload, seconds=2, connections=connections, workdir=workdir)  # warm-up
    return wrk.run(url, payload, seconds=SECONDS, connections=connections, workdir=workdir)


def interleaved(targets: dict[str, tuple[str, dict[str, Any]]], workdir: Path) -> dict[str, Any]:
    """Load every target once per round, ``ROUNDS`` times; the medians over the rounds."""
    payloads = {name: (url, json.dumps(body).encode()) for name, (url, body) in targets.items()}
    for url, payload in payloads.values():  # warm-up
        wrk.run(url, payload, seconds=2, connections=CONNECTIONS, workdir=workdir)
    rounds: dict[str, list[wrk.Load]] = {name: [] for name in targets}
    for number in range(1, ROUNDS + 1):
        for name, (url, payload) in payloads.items():
            print(f"bench: round {number}/{ROUNDS}: loading {name}", flush=True)
            load = wrk.run(url, payload, seconds=SECONDS, connections=CONNECTIONS, workdir=workdir)
            rounds[name].append(load)
    return {name: summarise(loads) for name, loads in rounds.items()}


def paired_ratios(api: dict[str, Any], anchor: dict[str, Any], digits: int) -> list[float]:
    """api rps ÷ anchor rps for each round, the two loads taken seconds apart.

    The median of these is the reported ratio: it follows the machine's drift
    better than a ratio of two medians taken over the whole run.
    """
    return [
        round(mine / theirs, digits)
        for mine, theirs in zip(api["rounds_rps"], anchor["rounds_rps"], strict=True)
    ]


def summarise(loads: list[wrk.Load]) -> dict[str, Any]:
    return {
        "rps": round(statistics.median(load.rps for load in loads), 1),
        "p50_ms": round(statistics.median(load.p50_ms for load in loads), 3),
        "p99_ms": round(statistics.median(load.p99_ms for load in loads), 3),
        "errors": sum(load.errors for load in loads),
        "requests": sum(load.requests for load in loads),
        "rounds_rps": [round(load.rps, 1) for load in loads],
    }


def hot_swap(api_url: str, tracking_uri: str, workdir: Path) -> dict[str, Any]:
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
    seconds = max(SECONDS, 8)
    load = wrk.run(
        f"{api_url}/predict",
        json.dumps({"features": ROW}).encode(),
        seconds=seconds,
        connections=CONNECTIONS,
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


def goals(results: dict[str, Any]) -> dict[str, Any]:
    values = {
        "ratio_vs_mlflow": results["ratio_vs_mlflow"],
        "ratio_vs_floor": results["ratio_vs_floor"],
        "api_p99_ms": results["api"]["p99_ms"],
        "batch_1000_p50_ms": results["batch_1000"]["p50_ms"],
        "hot_swap_errors": results["hot_swap"]["errors"],
        "cold_start_s": results["cold_start_s"],
    }
    report = {}
    for name, (direction, target) in GOALS.items():
        value = values[name]
        met = value >= target if direction == ">=" else value <= target
        report[name] = {"value": value, "goal": f"{direction} {target}", "met": met}
    return report


def table(results: dict[str, Any]) -> str:
    lines = [
        f"mlship bench: wrk, {CONNECTIONS} connections, {ROUNDS} interleaved rounds of "
        f"{SECONDS}s per server (medians), 1 worker each, {cpus.describe()}",
        "",
        "| server | rps | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("api", "mlflow_serve", "floor"):
        row = results[name]
        lines.append(
            f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['errors']} |"
        )
    batch = results["batch_1000"]
    lines += [
        "",
        "| goal | value | target | met |",
        "| --- | ---: | --- | --- |",
        *(
            f"| {name} | {goal['value']} | {goal['goal']} | {'yes' if goal['met'] else 'NO'} |"
            for name, goal in results["goals"].items()
        ),
        "",
        f"batch_1000: p50 {batch['p50_ms']} ms, p99 {batch['p99_ms']} ms, "
        f"{batch['rows_per_s']:.0f} rows/s; hot_swap: {results['hot_swap']['requests']} requests, "
        f"{results['hot_swap']['errors']} errors, v{results['hot_swap']['from_version']} -> "
        f"v{results['hot_swap']['to_version']}; cold start {results['cold_start_s']} s",
    ]
    return "\n".join(lines)


def main() -> None:
    wrk.wrk_binary()
    workdir = Path(tempfile.mkdtemp(prefix="mlship-bench-"))
    print(f"bench: working in {workdir}", flush=True)
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    with ExitStack() as stack:
        tracking = MlflowServer(f"sqlite:///{workdir}/mlflow.db", workdir / "mlflow").start()
        stack.callback(tracking.stop)
        register_model(tracking.uri, MODEL)
        api_port, mlflow_port, floor_port = free_port(), free_port(), free_port()
        api_env = base_env() | {
            "API_PORT": str(api_port),
            "API_MODEL_URI": f"models:/{MODEL}@production",
            "API_TRACKING_URI": tracking.uri,
            "API_RELOAD_INTERVAL_SECONDS": "1",
        }
        api_process = stack.enter_context(
            server([bin_path("mlship-api")], api_env, workdir / "api.log")
        )
        api_url = f"http://127.0.0.1:{api_port}"
        results["cold_start_s"] = round(wait_status(f"{api_url}/health/ready", 120, api_process), 3)
        print(f"bench: cold start {results['cold_start_s']} s", flush=True)
        # mlflow models serve execs uvicorn from PATH: the venv's.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        mlflow_env = base_env() | {"MLFLOW_TRACKING_URI": tracking.uri, "PATH": path}
        mlflow_process = stack.enter_context(
            server(
                [bin_path("mlflow"), "models", "serve", "-m", f"models:/{MODEL}@production",
                 "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
                mlflow_env,
                workdir / "mlflow-serve.log",
            )
        )  # fmt: skip
        floor_process = stack.enter_context(
            server(
                # The API's own uvicorn options (see mlship.api.__main__), so that the two
                # differ only in the application.
                [bin_path("uvicorn"), "tests.bench.floor:app", "--host", "127.0.0.1",
                 "--port", str(floor_port), "--workers", "1", "--no-access-log",
                 "--no-server-header", "--no-proxy-headers", "--log-level", "warning"],
                base_env(),
                workdir / "floor.log",
            )
        )  # fmt: skip
        wait_status(f"http://127.0.0.1:{mlflow_port}/ping", 180, mlflow_process)
        wait_status(f"http://127.0.0.1:{floor_port}/", 60, floor_process)

        single = {"features": ROW}
        mlflow_body = {"dataframe_split": {"columns": FEATURES, "data": [ROW]}}
        targets: dict[str, tuple[str, dict[str, Any]]] = {
            "api": (f"{api_url}/predict", single),
            "mlflow_serve": (f"http://127.0.0.1:{mlflow_port}/invocations", mlflow_body),
            "floor": (f"http://127.0.0.1:{floor_port}/predict", single),
        }
        results |= interleaved(targets, workdir)
        for anchor, key, digits in (
            ("mlflow_serve", "ratio_vs_mlflow", 2),
            ("floor", "ratio_vs_floor", 3),
        ):
            by_round = paired_ratios(results["api"], results[anchor], digits)
            results[key] = statistics.median(by_round)
            results[f"{key}_by_round"] = by_round

        print("bench: 1,000-row batches", flush=True)
        features, _, _ = iris()
        rows = [features[i % len(features)].tolist() for i in range(1000)]
        batch = measure(f"{api_url}/predict/batch", {"instances": rows}, workdir, connections=1)
        results["batch_1000"] = {
            "p50_ms": round(batch.p50_ms, 3),
            "p99_ms": round(batch.p99_ms, 3),
            "rows_per_s": round(batch.rps * 1000, 0),
            "errors": batch.errors,
        }
        print("bench: hot swap under load", flush=True)
        results["hot_swap"] = hot_swap(api_url, tracking.uri, workdir)
    results["goals"] = goals(results)
    results["settings"] = {
        "connections": CONNECTIONS,
        "seconds_per_round": SECONDS,
        "rounds": ROUNDS,
        "workers": 1,
        "cpus": cpus.describe(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nbench: wrote {RESULTS}")


if __name__ == "__main__":
    main()
