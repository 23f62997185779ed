"""The API under load: a real ``mlship-api`` on loopback serving a local model directory.

The load runs always start their own API (no registry, no MLflow server): the
figures then depend on the service alone, and the runner knows the process
whose memory it reports.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support import processes

# Settings the runner owns; every other API_* variable of the caller passes through.
OWNED = ("API_HOST", "API_PORT", "API_MODEL_URI", "API_KEYS", "API_KEYS_FILE", "API_TRACKING_URI")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name may hold spaces and parentheses: fields follow the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    tree = _children()
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(tree.get(pid, []))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` (``VmRSS`` of /proc/<pid>/status); 0 once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Target:
    """A started API process; ``rss`` sums the memory of its whole process tree."""

    process: subprocess.Popen[bytes]
    url: str
    api_key: str
    log: Path

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in process_tree(self.process.pid))

    def stop(self) -> None:
        processes.stop(self.process, timeout=30)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def start_api(model_dir: Path, workdir: Path, *, workers: int, timeout: float = 120) -> Target:
    """Start ``mlship-api`` on a free loopback port with a fresh key; wait until ready."""
    port = free_port()
    key = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWNED)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        API_MODEL_URI=str(model_dir),
        API_KEYS=key,
        API_WORKERS=str(workers),
        API_LOG_LEVEL=os.environ.get("API_LOG_LEVEL", "warning"),
    )
    if workers > 1:
        metrics_dir = workdir / "metrics"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log = workdir / "api.log"
    executable = str(Path(sys.executable).parent / "mlship-api")
    process = processes.spawn([executable], log, env=env)
    target = Target(process, f"http://127.0.0.1:{port}", key, log)
    deadline = time.monotonic() + timeout
    while not _ready(target.url):
        if process.poll() is not None or time.monotonic() > deadline:
            target.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"loadtest: the API did not become ready (log {log}):\n{tail}")
        time.sleep(0.2)
    return target
