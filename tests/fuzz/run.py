"""Fuzz the API with Schemathesis: a real ``mlship-api`` process, generated requests, a report.

``python -m tests.fuzz.run`` saves a small real Iris model directory, serves it
with ``mlship-api`` on a free loopback port (with an API key, so the prediction
endpoints are reached), runs ``schemathesis run`` against the service's own
OpenAPI schema and writes the Schemathesis log, a JUnit report and ``summary.json``
under the output directory; the request count is the service's own
``mlship_http_requests_total``. Checks: all of Schemathesis' (``schemathesis.toml``
beside this file): no 5xx, every response's status code, content type, headers and
body as the schema declares, every request the schema allows answered with a 2xx
and every one it forbids refused. Exit status 0 only when no check failed and at
least ``--min-requests`` requests were made.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from tests.integration.api_process import api_process
from tests.support.components import venv_bin
from tests.support.models import save_model_dir

# Every check (Schemathesis' default), positive_data_acceptance and negative_data_rejection
# included: the schema must allow exactly what the service answers. The file says where not.
CONFIG = Path(__file__).with_name("schemathesis.toml")
GENERATED = re.compile(r"(\d+) generated")
REQUESTS_SAMPLE = re.compile(
    r'^mlship_http_requests_total\{[^}]*status_class="(?P<status>\dxx)"[^}]*\} (?P<value>\S+)$'
)


def served_requests(metrics: str) -> dict[str, int]:
    """Requests the service counted, by status class (its own RED metric)."""
    counts: dict[str, int] = {}
    for line in metrics.splitlines():
        match = REQUESTS_SAMPLE.match(line)
        if match:
            status_class = match.group("status")
            counts[status_class] = counts.get(status_class, 0) + int(float(match.group("value")))
    return dict(sorted(counts.items()))


def fuzz(out: Path, max_examples: int, max_seconds: int, seed: int | None) -> dict[str, object]:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = out / "model"
    if not (model / "MLmodel").is_file():
        save_model_dir(model)
    key = secrets.token_urlsafe(24)
    settings = {"API_MODEL_URI": str(model), "API_KEYS": key, "API_ACCESS_LOG": "false"}
    with api_process(out / "api", **settings) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        with api.client() as client:
            # The readiness polls above (503 while loading) are not part of the run.
            before = served_requests(client.get("/metrics").text)
        command = [
            venv_bin("schemathesis"), "--config-file", str(CONFIG),
            "run", f"{api.url}/openapi.json",
            "--header", f"X-API-Key: {key}",
            "--max-examples", str(max_examples),
            "--max-time", str(max_seconds),
            "--request-timeout", "10",
            "--workers", "1",
            "--no-shrink",
            "--report", "junit",
            "--report-junit-path", str(out / "junit.xml"),
        ]  # fmt: skip
        if seed is not None:
            command += ["--seed", str(seed)]
        env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
        # Run inside ``out``: Schemathesis keeps its cache in the working directory.
        run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out, check=False)
        api_alive = api.process is not None and api.process.poll() is None
        with api.client() as client:
            after = served_requests(client.get("/metrics").text) if api_alive else {}
        by_status = {name: count - before.get(name, 0) for name, count in after.items()}
        by_status = {name: count for name, count in by_status.items() if count}
    (out / "schemathesis.log").write_text(run.stdout + run.stderr)
    generated = GENERATED.search(run.stdout)
    summary: dict[str, object] = {
        "exit_code": run.returncode,
        "test_cases": int(generated.group(1)) if generated else None,
        "requests": sum(by_status.values()),
        "requests_by_status_class": by_status,
        "checks": f"all, configured by {CONFIG.name}",
        "api_alive_after": api_alive,
        "report_dir": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def by_status_has_5xx(summary: dict[str, object]) -> bool:
    by_status = summary["requests_by_status_class"]
    return isinstance(by_status, dict) and by_status.get("5xx", 0) > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".mlship/fuzz"))
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--max-seconds", type=int, default=240, help="time budget of the run")
    parser.add_argument("--min-requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    summary = fuzz(args.out, args.max_examples, args.max_seconds, args.seed)
    print(json.dumps(summary, indent=2))
    if summary["exit_code"] != 0:
        print(f"fuzz: failures found, see {args.out / 'schemathesis.log'}", file=sys.stderr)
        return 1
    if by_status_has_5xx(summary):
        print("fuzz: the service answered 5xx (see its metrics in summary.json)", file=sys.stderr)
        return 1
    requests = summary["requests"]
    if not isinstance(requests, int) or requests < args.min_requests:
        print(f"fuzz: only {requests} requests (< {args.min_requests})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
