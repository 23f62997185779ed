"""``python -m mlship.api.wait``: wait until a running service is ready (for scripts and make).

Exits 0 once ``/health/ready`` answers 200, 1 with the last answer on time-out.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request


def probe(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return None, str(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlship.api.wait", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=90.0)
    arguments = parser.parse_args(argv)
    deadline = time.monotonic() + arguments.timeout
    status, body = probe(arguments.url)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = probe(arguments.url)
    if status == 200:
        print(f"api: ready on {arguments.url} ({body})")
        return 0
    print(f"api: not ready after {arguments.timeout:.0f}s: {body}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
