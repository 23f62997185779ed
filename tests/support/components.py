"""Finding the real components the suites need, and strict mode.

In strict mode (``MLSHIP_STRICT=1``, set by CI) a missing component fails the
test instead of skipping it: a green run must mean everything really ran.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest


def strict_mode() -> bool:
    return os.environ.get("MLSHIP_STRICT", "").lower() in {"1", "true", "yes"}


def missing(component: str, hint: str) -> NoReturn:
    """Skip (or, in strict mode, fail) because ``component`` is not on this machine."""
    message = f"{component} is not available: {hint}"
    if strict_mode():
        pytest.fail(f"strict mode: {message}", pytrace=False)
    pytest.skip(message)


def venv_bin(name: str) -> str:
    """A console script installed beside the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        missing(name, f"install the dev requirements ({name} is not on PATH)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _passes(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        # A component that is still starting refuses connections or answers errors.
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true; on time-out fail with the tail of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _passes(check):
            return
        time.sleep(interval)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    pytest.fail(f"{what} not ready after {timeout:.0f}s{tail}", pytrace=False)


def declared_model_names(root: Path) -> list[str]:
    """The models ``mlship models --json`` lists in the checkout at ``root``, sorted."""
    listed = subprocess.run(
        [venv_bin("mlship"), "models", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(model["name"] for model in json.loads(listed.stdout))
