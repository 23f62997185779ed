"""The bench's figures: per-server summaries, paired ratios, the goals and the table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.bench.wrk import Load

SERVERS = ("api", "mlflow_serve", "floor")
# The goals: (direction, target). The ratios are the benchmark contract's.
GOALS = {
    "ratio_vs_mlflow": (">=", 10.0),
    "ratio_vs_floor": (">=", 0.6),
    "api_p99_ms": ("<=", 10.0),
    "batch_1000_p50_ms": ("<=", 20.0),
    "hot_swap_errors": ("<=", 0),
    "cold_start_s": ("<=", 5.0),
}


@dataclass(frozen=True)
class Round:
    """One server's load in one round, and the server CPU time it cost (None: not measured)."""

    load: Load
    cpu_seconds: float | None

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or self.load.requests == 0:
            return None
        return round(self.cpu_seconds / self.load.requests * 1e6, 1)


def summarise(rounds: Sequence[Round]) -> dict[str, Any]:
    """Medians over the rounds; every round's rps and CPU time per request are kept."""
    loads = [entry.load for entry in rounds]
    cpu = [entry.cpu_us_per_request for entry in rounds]
    measured = [value for value in cpu if value is not None]
    return {
        "rps": round(statistics.median(load.rps for load in loads), 1),
        "p50_ms": round(statistics.median(load.p50_ms for load in loads), 3),
        "p99_ms": round(statistics.median(load.p99_ms for load in loads), 3),
        "errors": sum(load.errors for load in loads),
        "requests": sum(load.requests for load in loads),
        "cpu_us_per_request": round(statistics.median(measured), 1) if measured else None,
        "rounds_rps": [round(load.rps, 1) for load in loads],
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


def add_ratios(results: dict[str, Any]) -> None:
    """The rps ratios of the contract, and the floor's CPU per request ÷ the API's."""
    api = results["api"]
    for anchor, key in (("mlflow_serve", "ratio_vs_mlflow"), ("floor", "ratio_vs_floor")):
        by_round = paired_ratios(api["rounds_rps"], results[anchor]["rounds_rps"])
        if not by_round:
            raise SystemExit(f"bench: {anchor} answered no request in any round")
        results[key] = statistics.median(by_round)
        results[f"{key}_by_round"] = by_round
    # Higher is better, as for the rps ratio: 0.5 means an API request costs the server
    # twice the CPU time of a floor request.
    by_round = paired_ratios(
        results["floor"]["rounds_cpu_us_per_request"], api["rounds_cpu_us_per_request"]
    )
    results["cpu_ratio_vs_floor"] = statistics.median(by_round) if by_round else None
    results["cpu_ratio_vs_floor_by_round"] = by_round


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


def _cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def table(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"mlship bench: wrk, {settings['connections']} connections, {settings['rounds']} "
        f"interleaved rounds of {settings['seconds_per_round']}s per server (medians), "
        f"1 worker each, {settings['cpus']}",
        "",
        "| server | rps | p50 ms | p99 ms | errors | server CPU us/request |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in SERVERS:
        row = results[name]
        lines.append(
            f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['errors']} | {_cpu(row['cpu_us_per_request'])} |"
        )
    batch, swap = results["batch_1000"], results["hot_swap"]
    lines += [
        "",
        "| goal | value | target | met |",
        "| --- | ---: | --- | --- |",
        *(
            f"| {name} | {goal['value']} | {goal['goal']} | {'yes' if goal['met'] else 'NO'} |"
            for name, goal in results["goals"].items()
        ),
        "",
        f"ratio_vs_floor by round: {results['ratio_vs_floor_by_round']}; "
        f"cpu_ratio_vs_floor (floor CPU/request ÷ api CPU/request): "
        f"{results['cpu_ratio_vs_floor']}",
        f"batch_1000: p50 {batch['p50_ms']} ms, p99 {batch['p99_ms']} ms, "
        f"{batch['rows_per_s']:.0f} rows/s; hot_swap: {swap['requests']} requests, "
        f"{swap['errors']} errors, v{swap['from_version']} -> v{swap['to_version']}; "
        f"cold start {results['cold_start_s']} s",
    ]
    return "\n".join(lines)
