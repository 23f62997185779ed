"""The benchmark's goals: ratios from one run, the API's size and its image's layers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.bench.report import find, median_ratio

ROOT = Path(__file__).resolve().parents[2]
API_SOURCES = ROOT / "api" / "src"
API_DOCKERFILE = ROOT / "platform" / "api" / "Dockerfile"
IMAGE = "mlship-api:bench"
# name: (direction, target)
GOALS: dict[str, tuple[str, float]] = {
    "v2_vs_mlserver_iris": (">=", 10.0),  # api V2 rps ÷ mlserver's, single row, 8 connections
    "v2_vs_mlserver_forest": (">=", 20.0),
    "v2_vs_predict_iris": (">=", 0.8),  # api V2 rps ÷ api /predict rps, 8 connections
    "v2_vs_predict_forest": (">=", 0.8),
    "cpu_vs_floor_predict_iris": ("<=", 3.0),  # api CPU us/request ÷ floor's, /predict, 8 conns
    "batch_p99_over_p50_iris": ("<=", 3.0),  # api /predict/batch, 1,000 rows
    "batch_p99_over_p50_forest": ("<=", 3.0),
    "hot_swap_errors": ("<=", 0),
    "cold_start_vs_mlserver": ("<=", 0.5),  # api cold start ÷ mlserver's
    "api_src_lines": ("<=", 2000),  # lines of api/src/**/*.py
    "image_layers_mb": ("<=", 150.0),  # the API image's own layers above its base
}
MLSERVER_GOALS = ("v2_vs_mlserver_iris", "v2_vs_mlserver_forest", "cold_start_vs_mlserver")


def api_src_lines(root: Path = API_SOURCES) -> int:
    return sum(len(path.read_text().splitlines()) for path in sorted(root.rglob("*.py")))


def _docker(*arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["docker", *arguments], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout


def first_instruction(dockerfile: str) -> str:
    """The final stage's first instruction, up to its first space-separated word after the
    keyword (``ENV PYTHONDONTWRITEBYTECODE=1``): how ``docker history`` shows where it starts."""
    stage = dockerfile.rsplit("\nFROM ", 1)[1].splitlines()[1:]
    line = next(text for text in stage if text.strip() and not text.startswith("#"))
    return " ".join(line.split()[:2])


def own_layers_bytes(history: str, marker: str) -> int | None:
    """Bytes of the ``docker history`` rows (``size|created by``, newest first) down to the
    oldest that holds ``marker``: the image's own layers above its base. None: not found."""
    rows = [line.split("|", 1) for line in history.splitlines() if "|" in line]
    starts = [index for index, (_, created) in enumerate(rows) if marker in created]
    return sum(int(size) for size, _ in rows[: starts[-1] + 1]) if starts else None


def image_layers_mb() -> tuple[float | None, str]:
    """MB of the API image's layers above its base image (``docker history``), or why not."""
    image = os.environ.get("BENCH_API_IMAGE") or IMAGE
    if shutil.which("docker") is None or _docker("version") is None:
        return None, "no Docker engine answers"
    history = _docker("history", "--no-trunc", "--human=false", "--format",
                      "{{.Size}}|{{.CreatedBy}}", image)  # fmt: skip
    if history is None:
        return None, f"no image {image} (build it, or set BENCH_API_IMAGE)"
    marker = first_instruction(API_DOCKERFILE.read_text())
    own = own_layers_bytes(history, marker)
    if own is None:
        return None, f"{image}: no layer made by {marker!r} (platform/api/Dockerfile)"
    return round(own / 1e6, 1), f"{image}: layers from {marker!r} on"


def values(results: dict[str, Any], mlserver: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Each goal's value (None: not measured) and notes: why not, or how it was measured."""
    runs = results["runs"]
    found: dict[str, Any] = {}
    for model in ("iris", "forest"):
        v2 = find(runs, server="api", model=model, endpoint="v2", connections=8)
        predict = find(runs, server="api", model=model, endpoint="predict", connections=8)
        theirs = find(runs, server="mlserver", model=model, endpoint="v2", connections=8)
        batch = find(runs, server="api", model=model, endpoint="batch_1000", path="/predict/batch")
        if v2 is None or predict is None or batch is None:
            raise SystemExit(f"bench: the api's {model} loads are missing")
        found[f"v2_vs_predict_{model}"] = median_ratio(v2["rounds_rps"], predict["rounds_rps"])
        found[f"v2_vs_mlserver_{model}"] = (
            median_ratio(v2["rounds_rps"], theirs["rounds_rps"]) if theirs else None
        )
        found[f"batch_p99_over_p50_{model}"] = median_ratio(
            batch["rounds_p99_ms"], batch["rounds_p50_ms"]
        )
    api = find(runs, server="api", model="iris", endpoint="predict", connections=8)
    floor = find(runs, server="floor", model="iris", endpoint="predict", connections=8)
    if api is None or floor is None:
        raise SystemExit("bench: the iris /predict loads are missing")
    found["cpu_vs_floor_predict_iris"] = median_ratio(
        api["rounds_cpu_us_per_request"], floor["rounds_cpu_us_per_request"]
    )
    found["hot_swap_errors"] = results["hot_swap"]["errors"]
    cold = results["cold_start_s"]
    found["cold_start_vs_mlserver"] = (
        round(cold["api"] / cold["mlserver"], 3) if "mlserver" in cold else None
    )
    found["api_src_lines"] = api_src_lines()
    found["image_layers_mb"], image_note = image_layers_mb()
    notes = {"image_layers_mb": image_note}
    if not mlserver:
        notes |= dict.fromkeys(MLSERVER_GOALS, "MLServer left out of this run")
    return found, notes


def evaluate(found: dict[str, Any]) -> dict[str, Any]:
    """``{name: {value, goal, met}}``; ``met`` is None where the value is."""
    report = {}
    for name, (direction, target) in GOALS.items():
        value = found[name]
        met = None if value is None else value >= target if direction == ">=" else value <= target
        report[name] = {"value": value, "goal": f"{direction} {target:g}", "met": met}
    return report
