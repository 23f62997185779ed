"""Serve the tracking server's Prometheus metrics on a port of their own (a script).

    python metrics_exporter.py --host HOST --port PORT --directory DIR

`mlflow server --expose-prometheus DIR` makes every worker write its metrics to
DIR (prometheus_client's multiprocess files) and serves them at /metrics on the
server's port. With the basic-auth app that route is for administrators only, and
a scraper holding an admin password is worse than open metrics on a port that
only Prometheus may reach. This process reads the same files and answers
GET /metrics (any path, as prometheus_client's server does) without a login; it
serves no registry data, only request counts and latencies.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

PROGRAM = "mlflow-metrics"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    arguments = parser.parse_args(argv)
    arguments.directory.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(arguments.directory))  # type: ignore[no-untyped-call]
    try:
        start_http_server(arguments.port, addr=arguments.host, registry=registry)
    except OSError as error:
        address = f"{arguments.host}:{arguments.port}"
        print(f"{PROGRAM}: cannot listen on {address}: {error}", file=sys.stderr)
        return 1
    url = f"http://{arguments.host}:{arguments.port}/metrics"
    print(f"{PROGRAM}: serving {arguments.directory} at {url}", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
