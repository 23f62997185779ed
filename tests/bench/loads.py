"""The loads: one server, model, endpoint and connection count each, run by ``wrk`` in rounds.

Every load is checked first (one request must answer 200), warmed up, then
run once per round with all the others in between (api, floor, mlflow_serve,
mlserver, api, ...): on a shared machine the speed drifts by tens of percent
within a minute, and ratios of loads taken seconds apart cancel that drift.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import usage, wrk
from tests.bench.models import (
    BenchModel,
    batch_body,
    invocations_body,
    predict_body,
    v2_body,
)
from tests.bench.plan import BATCH_CONNECTIONS, SINGLE_CONNECTIONS, Plan
from tests.bench.report import Round
from tests.bench.servers import Started

# Largest difference of a class probability between api and mlserver on the same model.
AGREEMENT = 0.05


@dataclass(frozen=True)
class Load:
    server: str  # api, floor, mlflow_serve, mlserver
    model: str  # iris or forest
    endpoint: str  # predict, v2 or batch_1000
    connections: int
    url: str
    body: bytes
    process: subprocess.Popen[bytes]  # the leader of the server's process group

    @property
    def path(self) -> str:
        return "/" + self.url.split("/", 3)[3]

    def describe(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "model": self.model,
            "endpoint": self.endpoint,
            "connections": self.connections,
            "path": self.path,
        }

    def label(self) -> str:
        return f"{self.server} {self.model} {self.endpoint} {self.path} c{self.connections}"


def check(load: Load) -> Any:
    """POST the load's body once; its JSON answer, or exit naming the load and the status."""
    request = urllib.request.Request(  # noqa: S310 (loopback only, see wrk.run)
        load.url, data=load.body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode(errors="replace")
        raise SystemExit(f"bench: {load.label()} answered {error.code}: {detail}") from None


def run_once(load: Load, seconds: int, workdir: Path) -> Round:
    """One run of ``load`` with the CPU time its server spent meanwhile."""
    group = load.process.pid  # each server leads its own session (``servers.server``)
    before = usage.group_cpu_seconds(group)
    result = wrk.run(
        load.url, load.body, seconds=seconds, connections=load.connections, workdir=workdir
    )
    after = usage.group_cpu_seconds(group)
    spent = None if before is None or after is None else after - before
    return Round(result, spent)


def warm_up(load: Load, plan: Plan, workdir: Path) -> None:
    wrk.run(
        load.url,
        load.body,
        seconds=plan.warmup_seconds,
        connections=load.connections,
        workdir=workdir,
    )


def interleaved(loads: Sequence[Load], plan: Plan, workdir: Path) -> list[list[Round]]:
    """Each load's rounds (``plan.rounds`` of ``plan.seconds``), in the order of ``loads``."""
    for load in loads:
        warm_up(load, plan, workdir)
    rounds: list[list[Round]] = [[] for _ in loads]
    for number in range(1, plan.rounds + 1):
        print(f"bench: round {number}/{plan.rounds} of {len(loads)} loads", flush=True)
        for index, load in enumerate(loads):
            rounds[index].append(run_once(load, plan.seconds, workdir))
    return rounds


def model_loads(
    model: BenchModel, servers: dict[str, Started], mlserver_v2: Started | None
) -> list[Load]:
    """Every load on ``model``: single rows at 8 and 64 connections, then 1,000-row batches."""
    api, floor, serve = servers["api"], servers["floor"], servers["mlflow_serve"]
    row, rows = [model.rows[0]], model.batch()
    loads = []
    for size, connections, endpoint in (
        *((row, c, None) for c in SINGLE_CONNECTIONS),
        (rows, BATCH_CONNECTIONS, "batch_1000"),
    ):
        api_predict = ("/predict", predict_body(model)) if endpoint is None else (
            "/predict/batch", batch_body(model))  # fmt: skip
        v2 = v2_body(model, size)
        entries = [
            ("api", endpoint or "predict", api, *api_predict),
            ("api", endpoint or "v2", api, model.v2_path, v2),
            ("mlflow_serve", endpoint or "predict", serve, "/invocations",
             invocations_body(model, size)),
            ("floor", "predict", floor, "/predict", predict_body(model)) if not endpoint else None,
            ("mlserver", endpoint or "v2", mlserver_v2, model.v2_path, v2),
        ]  # fmt: skip
        for entry in entries:
            if entry is None or entry[2] is None:
                continue
            server, name, started, path, body = entry
            assert started is not None
            loads.append(
                Load(
                    server, model.key, name, connections, started.url + path, body, started.process
                )
            )
    return loads


def check_all(loads: list[Load]) -> float | None:
    """Every body is accepted (200); api and mlserver answer V2 with the same probabilities.

    The same fitted model may be served in another form (the API's ONNX graph computes
    in float32), so the probabilities agree within ``AGREEMENT``, not bit for bit.
    Returns the largest difference seen (None: no MLServer load).
    """
    answers: dict[tuple[str, int, str], Any] = {}
    for load in loads:
        answer = check(load)
        if "/v2/" in load.path:
            answers[(load.endpoint, load.connections, load.server)] = answer["outputs"][0]
    largest = None
    for (endpoint, connections, server), output in answers.items():
        ours = answers[(endpoint, connections, "api")]
        if server == "api":
            continue
        if output["name"] != "predict_proba" or output["shape"] != ours["shape"]:
            raise SystemExit(f"bench: {server}'s V2 answer is not the api's kind: {output}")
        difference = max(abs(a - b) for a, b in zip(output["data"], ours["data"], strict=True))
        if difference > AGREEMENT:
            raise SystemExit(
                f"bench: {server}'s V2 probabilities differ from the api's by {difference} "
                f"({endpoint}, {connections} connections): is it the same fitted model?"
            )
        largest = max(largest or 0.0, difference)
    return largest
