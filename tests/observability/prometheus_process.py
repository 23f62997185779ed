"""A real Prometheus server on a free loopback port, configured from the committed config.

``local_config`` keeps everything of ``observability/prometheus/prometheus.yml``
(jobs, metrics paths, rule files) and changes only what differs on a test
machine: where the targets are, and a 1 s scrape and evaluation interval so
that a short test sees many samples.
"""

from __future__ import annotations

import copy
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import processes
from tests.support.components import free_port, missing, wait_until

COMMITTED_CONFIG = (
    Path(__file__).resolve().parents[2] / "observability" / "prometheus" / "prometheus.yml"
)
SERVICE_DISCOVERY = ("static_configs", "dns_sd_configs", "file_sd_configs", "kubernetes_sd_configs")


def local_config(targets: dict[str, list[str]], interval: str = "1s") -> dict[str, Any]:
    """The committed configuration with ``targets`` per job name and absolute rule paths."""
    committed: dict[str, Any] = yaml.safe_load(COMMITTED_CONFIG.read_text())
    config = copy.deepcopy(committed)
    config["global"].update(
        {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval}
    )
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    if sorted(jobs) != sorted(targets):
        raise ValueError(f"the committed config scrapes {jobs}, not {sorted(targets)}")
    for job in config["scrape_configs"]:
        for key in SERVICE_DISCOVERY:
            job.pop(key, None)
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    # Rule paths are relative to the configuration file, which moves to a temporary directory.
    config["rule_files"] = [
        str(COMMITTED_CONFIG.parent / rule_file) for rule_file in committed["rule_files"]
    ]
    return config


@dataclass
class PrometheusServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, config: dict[str, Any]) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            missing("prometheus", "install Debian's prometheus package")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        command = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = processes.spawn(command, self.log)
        wait_until(self._ready, timeout=60, what=f"prometheus on {self.url}", log=self.log)
        return self

    def _ready(self) -> bool:
        return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def api(self, path: str, **params: Any) -> Any:
        """``data`` of a successful answer of the HTTP API (``/api/v1/<path>``)."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {response.status_code} {body}")
        return body["data"]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def stop(self) -> None:
        processes.stop(self.process)


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    """Every finite sample of an instant (``value``) or range (``values``) query result."""
    samples = [series["value"] for series in result if "value" in series]
    samples += [point for series in result for point in series.get("values", [])]
    numbers = [float(value) for _, value in samples]
    return [number for number in numbers if math.isfinite(number)]
