"""Running Debian's ``wrk`` (a C load generator) and reading its report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.bench import cpus

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")
    return found


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * UNITS[match[2]]


def parse(report: str) -> Load:
    requests = int(re.search(r"(\d+) requests in", report)[1])  # type: ignore[index]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", report)[1])  # type: ignore[index]
    p50 = _milliseconds(re.search(r"\s50%\s+(\S+)", report)[1])  # type: ignore[index]
    p99 = _milliseconds(re.search(r"\s99%\s+(\S+)", report)[1])  # type: ignore[index]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    if non_2xx:
        errors += int(non_2xx[1])
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    if sockets:
        errors += sum(int(group) for group in sockets.groups())
    return Load(requests, rps, p50, p99, errors)


def run(
    url: str,
    body: bytes,
    *,
    seconds: int,
    connections: int,
    workdir: Path,
    headers: dict[str, str] | None = None,
) -> Load:
    """POST ``body`` to ``url`` (loopback only) for ``seconds`` and parse the report."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmark traffic goes to 127.0.0.1 only")
    script = workdir / f"post-{abs(hash((url, body))) % 10**8}.lua"
    lua = LUA.format(body=json.dumps(body.decode()))
    for name, value in (headers or {}).items():
        lua += f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n"
    script.write_text(lua)
    completed = subprocess.run(
        cpus.as_client(
            [
                wrk_binary(),
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "--latency",
                "-s",
                str(script),
                url,
            ]
        ),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse(completed.stdout)
