"""CPU time used by a server, read from ``/proc``.

Throughput on a small shared machine drifts by tens of percent within a
minute; the CPU time a server spends per request drifts far less, so the bench
reports it beside the requests per second. A server is measured as its whole
process group (each is started in a new session): ``mlflow models serve`` does
its work in a uvicorn child process.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(process: Path) -> list[str] | None:
    try:
        text = (process / "stat").read_text()
    except OSError:  # the process ended between listing and reading
        return None
    # After "pid (comm)": state, ppid, pgrp, ..., utime (14th field), stime (15th).
    return text.rsplit(")", 1)[1].split()


def group_cpu_seconds(group: int) -> float | None:
    """User plus system CPU seconds of the live processes in process group ``group``.

    None where there is no ``/proc`` (the figures are then left out).
    """
    if not PROC.is_dir():
        return None
    ticks = 0
    for process in PROC.iterdir():
        if not process.name.isdigit():
            continue
        fields = _stat_fields(process)
        if fields is not None and int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
