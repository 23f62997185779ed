"""The bench's figures: each load's summary over its rounds, paired ratios and the table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.bench.wrk import Load

ENDPOINTS = ("predict", "v2", "batch_1000")


@dataclass(frozen=True)
class Round:
    """One load in one round, and the server CPU time it cost (None: not measured)."""

    load: Load
    cpu_seconds: float | None

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or self.load.requests == 0:
            return None
        return round(self.cpu_seconds / self.load.requests * 1e6, 1)


def summarise(rounds: Sequence[Round]) -> dict[str, Any]:
    """Medians over the rounds; every round's figures are kept for the paired ratios."""
    loads = [entry.load for entry in rounds]
    cpu = [entry.cpu_us_per_request for entry in rounds]
    measured = [value for value in cpu if value is not None]
    return {
        "rps": round(statistics.median(load.rps for load in loads), 1),
        "p50_ms": round(statistics.median(load.p50_ms for load in loads), 3),
        "p99_ms": round(statistics.median(load.p99_ms for load in loads), 3),
        "errors": sum(load.errors for load in loads),
        "cpu_us_per_request": round(statistics.median(measured), 1) if measured else None,
        "requests": sum(load.requests for load in loads),
        "rounds_rps": [round(load.rps, 1) for load in loads],
        "rounds_p50_ms": [round(load.p50_ms, 3) for load in loads],
        "rounds_p99_ms": [round(load.p99_ms, 3) for load in loads],
        "rounds_cpu_us_per_request": cpu,
    }


def paired_ratios(mine: Sequence[float | None], theirs: Sequence[float | None]) -> list[float]:
    """``mine ÷ theirs`` for each round, the two loads taken seconds apart.

    The median of these is the reported ratio: it follows the machine's drift
    better than a ratio of two medians taken over the whole run.
    """
    return [
        round(a / b, 3)
        for a, b in zip(mine, theirs, strict=True)
        if a is not None and b is not None and b > 0
    ]


def median_ratio(mine: Sequence[float | None], theirs: Sequence[float | None]) -> float | None:
    ratios = paired_ratios(mine, theirs)
    return round(statistics.median(ratios), 3) if ratios else None


def find(runs: Sequence[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    """The first run whose keys hold the values of ``where``."""
    return next((run for run in runs if all(run.get(k) == v for k, v in where.items())), None)


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _order(run: dict[str, Any]) -> tuple[Any, ...]:
    servers = ("api", "mlserver", "mlflow_serve", "floor")
    return (run["model"], ENDPOINTS.index(run["endpoint"]), run["connections"],
            servers.index(run["server"]), run["path"])  # fmt: skip


def runs_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | endpoint | conns | server | path | rps | p50 ms | p99 ms | errors "
        "| CPU us/req |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in sorted(runs, key=_order):
        lines.append(
            f"| {run['model']} | {run['endpoint']} | {run['connections']} | {run['server']} | "
            f"{run['path']} | {run['rps']:.0f} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | "
            f"{run['errors']} | {_number(run['cpu_us_per_request'])} |"
        )
    return lines


def goals_table(goals: dict[str, Any], notes: dict[str, str]) -> list[str]:
    lines = ["| goal | value | target | met |", "| --- | ---: | --- | --- |"]
    for name, goal in goals.items():
        met = {True: "yes", False: "NO", None: f"n/a ({notes.get(name, 'not measured')})"}
        value = "null" if goal["value"] is None else goal["value"]
        lines.append(f"| {name} | {value} | {goal['goal']} | {met[goal['met']]} |")
    return lines


def mlserver_table(mlserver: dict[str, Any]) -> list[str]:
    if not mlserver.get("configurations"):
        return ["MLServer: left out of this run"]
    lines = [
        "MLServer configurations (V2, single row, 8 connections; best used above):",
        "| model | configuration | rps | p50 ms | p99 ms | errors | CPU us/req | cold start s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in mlserver["configurations"]:
        best = " (best)" if mlserver["best"][entry["model"]] == entry["name"] else ""
        lines.append(
            f"| {entry['model']} | {entry['name']}{best} | {entry['rps']:.0f} | "
            f"{entry['p50_ms']:.2f} | {entry['p99_ms']:.2f} | {entry['errors']} | "
            f"{_number(entry['cpu_us_per_request'])} | {entry['cold_start_s']} |"
        )
    return lines


def table(results: dict[str, Any]) -> str:
    settings, swap = results["settings"], results["hot_swap"]
    return "\n".join(
        [
            f"mlship bench: wrk, {settings['rounds']} interleaved rounds of "
            f"{settings['seconds_per_round']}s per load (medians; ratios are medians of the "
            f"rounds' ratios), 1 worker per server, {settings['cpus']}",
            "",
            *runs_table(results["runs"]),
            "",
            *mlserver_table(results["mlserver"]),
            "",
            *goals_table(results["goals"], results["goal_notes"]),
            "",
            f"hot_swap: {swap['requests']} requests, {swap['errors']} errors, "
            f"v{swap['from_version']} -> v{swap['to_version']}; cold start (s): "
            + ", ".join(f"{name} {value}" for name, value in results["cold_start_s"].items()),
        ]
    )
