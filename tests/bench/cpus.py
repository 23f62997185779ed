"""Which CPU the load generator and the servers run on.

On a small machine the scheduler sometimes puts ``wrk`` and the server on the
same CPU and sometimes not, and a light server's throughput then varies by a
factor of three from one run to the next. Pinning the servers to one CPU and
``wrk`` to another gives every server the same conditions. Without ``taskset``
or with a single CPU, nothing is pinned.
"""

from __future__ import annotations

import os
import shutil


def _cpus() -> list[int]:
    available = sorted(os.sched_getaffinity(0))
    return available if len(available) >= 2 and shutil.which("taskset") else []


def _on(cpu: int | None, command: list[str]) -> list[str]:
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def as_server(command: list[str]) -> list[str]:
    """``command`` pinned to the last CPU (its child processes inherit it)."""
    cpus = _cpus()
    return _on(cpus[-1] if cpus else None, command)


def as_client(command: list[str]) -> list[str]:
    """``command`` pinned to the first CPU."""
    cpus = _cpus()
    return _on(cpus[0] if cpus else None, command)


def describe() -> str:
    cpus = _cpus()
    return f"servers on CPU {cpus[-1]}, wrk on CPU {cpus[0]}" if cpus else "not pinned"
