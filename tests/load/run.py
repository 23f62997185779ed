"""``make loadtest`` and ``make soak``: Locust, headless and bounded, against a real API.

Both start their own ``mlship-api`` on a free loopback port serving a freshly
saved local model directory (see ``target.py``) and write Locust's CSV and HTML
reports plus a JSON and markdown summary under ``bench/load/``.

- ``loadtest``: ``--users`` users without pauses for ``--seconds``: the most
  this machine serves through Locust, with latency percentiles.
- ``soak``: a short unpaced ramp measures the maximum, then paced users hold
  ``--fraction`` (80 %) of it for ``--seconds``. Goals: 0 failed requests and
  API memory (RSS of its process tree) growing less than 10 % from the start
  of the soak to its end. Exits 1 when a goal is not met.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.load.target import Target, start_api

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MEMORY_GROWTH_GOAL = 0.10
MIB = 1024 * 1024


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def run_locust(
    target: Target,
    out: Path,
    name: str,
    *,
    seconds: int,
    users: int,
    spawn_rate: float,
    rps_per_user: float = 0.0,
    batch_rows: int = 100,
) -> dict[str, dict[str, float]]:
    """One headless Locust run; returns its per-endpoint and aggregated statistics."""
    env = {
        **os.environ,
        "LOADTEST_API_KEY": target.api_key,
        "LOADTEST_RPS_PER_USER": str(rps_per_user),
        "LOADTEST_BATCH_ROWS": str(batch_rows),
    }
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--loglevel", "WARNING",
        "--host", target.url, "--users", str(users), "--spawn-rate", str(spawn_rate),
        "--run-time", f"{seconds}s", "--stop-timeout", "10", "--exit-code-on-error", "0",
        "--csv", str(out / name), "--html", str(out / f"{name}.html"),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, check=False, timeout=seconds + 120)
    if result.returncode != 0:
        raise SystemExit(f"loadtest: locust exited with {result.returncode}")
    return read_stats(out / f"{name}_stats.csv")


def read_stats(path: Path) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
            }
    if "Aggregated" not in stats or stats["Aggregated"]["requests"] == 0:
        raise SystemExit(f"loadtest: no request was made (see {path})")
    return stats


def markdown_table(stats: dict[str, dict[str, float]]) -> str:
    lines = [
        "| endpoint | requests | failures | rps | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in stats.items():
        lines.append(
            f"| {name} | {row['requests']:.0f} | {row['failures']:.0f} | {row['rps']} "
            f"| {row['p50_ms']} | {row['p99_ms']} |"
        )
    return "\n".join(lines)


def write_summary(out: Path, name: str, summary: dict[str, Any], markdown: str) -> None:
    (out / f"{name}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / f"{name}-summary.md").write_text(markdown + "\n")
    print(markdown)


def loadtest(target: Target, out: Path, options: argparse.Namespace) -> int:
    stats = run_locust(
        target, out, "loadtest", seconds=options.seconds, users=options.users,
        spawn_rate=options.spawn_rate, batch_rows=options.batch_rows,
    )  # fmt: skip
    summary = {"mode": "loadtest", "seconds": options.seconds, "users": options.users,
               "api_workers": options.workers, "stats": stats}  # fmt: skip
    heading = (
        f"## loadtest: {options.users} users, {options.seconds} s, {options.workers} worker(s)"
    )
    write_summary(out, "loadtest", summary, f"{heading}\n\n{markdown_table(stats)}")
    return 0 if stats["Aggregated"]["failures"] == 0 else 1


def soak(target: Target, out: Path, options: argparse.Namespace) -> int:
    ramp = run_locust(
        target, out, "soak-ramp", seconds=options.ramp_seconds, users=options.users,
        spawn_rate=options.spawn_rate, batch_rows=options.batch_rows,
    )  # fmt: skip
    max_rps = ramp["Aggregated"]["rps"]
    target_rps = max_rps * options.fraction
    rss_start = target.rss()
    stats = run_locust(
        target, out, "soak", seconds=options.seconds, users=options.users,
        spawn_rate=options.spawn_rate, rps_per_user=target_rps / options.users,
        batch_rows=options.batch_rows,
    )  # fmt: skip
    rss_end = target.rss()
    growth = (rss_end - rss_start) / rss_start if rss_start else float("inf")
    errors = int(stats["Aggregated"]["failures"])
    goals = {
        "zero_errors": errors == 0,
        "memory_growth_under_10_percent": growth < MEMORY_GROWTH_GOAL,
    }
    summary = {
        "mode": "soak", "seconds": options.seconds, "users": options.users,
        "api_workers": options.workers, "ramp_max_rps": max_rps, "target_rps": round(target_rps, 1),
        "achieved_rps": stats["Aggregated"]["rps"], "errors": errors,
        "rss_start_mib": round(rss_start / MIB, 1), "rss_end_mib": round(rss_end / MIB, 1),
        "memory_growth_percent": round(growth * 100, 2), "goals": goals, "stats": stats,
    }  # fmt: skip
    verdict = {True: "met", False: "not met"}
    markdown = "\n".join([
        f"## soak: {options.seconds} s at {options.fraction:.0%} of the ramp maximum",
        "",
        f"- ramp maximum: {max_rps} rps; target {target_rps:.1f} rps; "
        f"achieved {stats['Aggregated']['rps']} rps",
        f"- errors: {errors} (goal 0: {verdict[goals['zero_errors']]})",
        f"- API RSS: {rss_start / MIB:.1f} MiB at start, {rss_end / MIB:.1f} MiB at end, "
        f"growth {growth:.2%} (goal < 10 %: {verdict[goals['memory_growth_under_10_percent']]})",
        "",
        markdown_table(stats),
    ])  # fmt: skip
    write_summary(out, "soak", summary, markdown)
    return 0 if all(goals.values()) else 1


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("mode", choices=["loadtest", "soak"])
    parser.add_argument("--seconds", type=positive_int, default=30, help="run (or soak) time")
    parser.add_argument("--users", type=positive_int, default=20, help="concurrent Locust users")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    parser.add_argument("--workers", type=positive_int, default=1, help="API_WORKERS of the API")
    parser.add_argument("--batch-rows", type=positive_int, default=100, help="rows per batch call")
    parser.add_argument("--ramp-seconds", type=positive_int, default=20, help="soak: ramp length")
    parser.add_argument("--fraction", type=fraction, default=0.8, help="soak: share of the maximum")
    parser.add_argument("--out", type=Path, default=Path("bench/load"), help="report directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    # Imported here: it loads MLflow and scikit-learn, which --help does not need.
    from tests.support.models import save_model_dir  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mlship-load-") as scratch:
        workdir = Path(scratch)
        model_dir = save_model_dir(workdir / "model")
        started = time.monotonic()
        target = start_api(model_dir, workdir, workers=options.workers)
        print(f"loadtest: API ready on {target.url} after {time.monotonic() - started:.1f}s")
        try:
            run = loadtest if options.mode == "loadtest" else soak
            return run(target, options.out, options)
        finally:
            target.stop()
            (options.out / f"{options.mode}-api.log").write_bytes(target.log.read_bytes())


if __name__ == "__main__":
    sys.exit(main())
