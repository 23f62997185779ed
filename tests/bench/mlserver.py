"""MLServer 1.7.1 (mlserver-sklearn) on the bench's fitted pipelines, in its own venv.

MLServer needs an older FastAPI than the project, so the bench makes it a
virtual environment of its own from ``mlserver-requirements.txt`` (every
package pinned), cached under ``.mlship/bench/`` by a hash of that file and
the Python version: a second run reuses it. ``make bench`` fails with a clear
message when it cannot be made; MLServer is never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.models import BenchModel
from tests.bench.servers import Started, base_env, launch
from tests.support.components import free_port

REQUIREMENTS = Path(__file__).with_name("mlserver-requirements.txt")
CACHE = Path(__file__).resolve().parents[2] / ".mlship" / "bench"
# Adaptive batching: up to 8 requests (the goal's connections) or 2 ms, whichever first.
MAX_BATCH_SIZE = 8
MAX_BATCH_TIME_S = 0.002


@dataclass(frozen=True)
class Config:
    """One MLServer configuration the bench measures (``parallel_workers`` None: default)."""

    adaptive_batching: bool
    parallel_workers: int | None

    @property
    def name(self) -> str:
        workers = "default" if self.parallel_workers is None else str(self.parallel_workers)
        return f"batching_{'on' if self.adaptive_batching else 'off'}-workers_{workers}"

    def describe(self) -> dict[str, Any]:
        batching = {"max_batch_size": MAX_BATCH_SIZE, "max_batch_time": MAX_BATCH_TIME_S}
        return {
            "name": self.name,
            "adaptive_batching": batching if self.adaptive_batching else None,
            "parallel_workers": "default"
            if self.parallel_workers is None
            else self.parallel_workers,
        }


CONFIGS = tuple(Config(batching, workers) for batching in (False, True) for workers in (None, 0))


def _pip_install(home: Path, log: Path) -> None:
    with log.open("ab") as handle:
        for command in (
            [sys.executable, "-m", "venv", str(home)],
            [str(home / "bin" / "pip"), "install", "--no-deps", "-r", str(REQUIREMENTS)],
            [str(home / "bin" / "pip"), "check"],
        ):
            handle.write(f"$ {' '.join(command)}\n".encode())
            handle.flush()
            subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True)


def environment() -> Path:
    """MLServer's venv (made once per pin set and Python version); its directory."""
    version = ".".join(map(str, sys.version_info[:3]))
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + version.encode()).hexdigest()[:12]
    home = CACHE / f"mlserver-{key}"
    if (home / ".complete").exists():
        return home
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / f"mlserver-{key}.log"
    print(f"bench: making MLServer's virtual environment in {home} (log {log})", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    try:
        _pip_install(home, log)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(
            f"bench: could not make MLServer's virtual environment in {home} ({error}); "
            f"see {log}. make bench compares against MLServer and cannot run without it."
        ) from None
    (home / ".complete").write_text(f"{REQUIREMENTS.name} {key}\n")
    return home


def repository(workdir: Path, model: BenchModel, pipeline: Path, config: Config) -> Path:
    """An MLServer model repository serving ``pipeline`` as ``model.name`` under ``config``."""
    root = workdir / f"mlserver-{model.key}-{config.name}"
    (root / model.name).mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": free_port(),
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "debug": False,  # no access log, as the API
    }
    if config.parallel_workers is not None:
        settings["parallel_workers"] = config.parallel_workers
    model_settings: dict[str, Any] = {
        "name": model.name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(pipeline)},
    }
    if config.adaptive_batching:
        model_settings |= {"max_batch_size": MAX_BATCH_SIZE, "max_batch_time": MAX_BATCH_TIME_S}
    (root / "settings.json").write_text(json.dumps(settings, indent=2))
    (root / model.name / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    return root


def start(
    stack: ExitStack,
    home: Path,
    model: BenchModel,
    *,
    pipeline: Path,
    config: Config,
    workdir: Path,
) -> Started:
    """``mlserver start`` on a new repository for ``config``; ready when the model is."""
    root = repository(workdir, model, pipeline, config)
    port = json.loads((root / "settings.json").read_text())["http_port"]
    command = [str(home / "bin" / "mlserver"), "start", str(root)]
    log = workdir / f"mlserver-{model.key}-{config.name}.log"
    ready = f"/v2/models/{model.name}/ready"
    return launch(stack, command, base_env(), log=log, port=port, ready_path=ready)
