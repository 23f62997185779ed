"""How long and how hard ``make bench`` loads each server (``BENCH_*`` settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# Single rows at these connection counts; 1,000-row batches on one connection.
SINGLE_CONNECTIONS = (8, 64)
BATCH_CONNECTIONS = 1


@dataclass(frozen=True)
class Plan:
    """Rounds and seconds of the interleaved loads, and whether MLServer takes part.

    ``make bench`` always includes MLServer; the one-round test leaves it out to
    stay short (``mlserver=False``), and its goals are then reported as not measured.
    """

    rounds: int = 3
    seconds: int = 4  # per load and round
    sweep_seconds: int = 3  # per MLServer configuration, single rows at 8 connections
    warmup_seconds: int = 1  # per load, before the first round
    mlserver: bool = True

    @classmethod
    def from_environment(cls) -> Plan:
        """``BENCH_ROUNDS``, ``BENCH_SECONDS``, ``BENCH_SWEEP_SECONDS``: positive integers."""
        values: dict[str, Any] = {}
        for field in ("rounds", "seconds", "sweep_seconds"):
            name = f"BENCH_{field.upper()}"
            text = os.environ.get(name)
            if text is None:
                continue
            if not text.strip().isdigit() or int(text) < 1:
                raise SystemExit(f"bench: {name} must be a positive integer, got {text!r}")
            values[field] = int(text)
        return cls(**values)
