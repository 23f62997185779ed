"""Metric families counted in plain Python numbers, and their sum over workers' snapshots.

A prometheus_client metric takes a lock, or with several workers writes a memory-mapped
file, on every update; these are dicts of floats that ``metrics.Metrics`` (a public
``Collector``) turns into metric families when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

Key = tuple[str, ...]


def le_label(bound: float) -> str:
    """A bucket bound as Prometheus writes ``le``: ``+Inf``, else the shortest float repr."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class Counts:
    """A counter family: label values -> total."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.values: dict[Key, float] = {}

    def inc(self, key: Key, amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def family(self, values: dict[Key, float]) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, total in sorted(values.items()):
            family.add_metric(list(key), total)
        return family


class Buckets:
    """A histogram family: label values -> one count per bucket (``le`` semantics), then the sum."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], bounds: Sequence[float]
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.bounds = [*bounds, float("inf")]
        self.values: dict[Key, list[float]] = {}

    def slots(self, key: Key) -> list[float]:
        found = self.values.get(key)
        if found is None:
            found = self.values[key] = [0.0] * (len(self.bounds) + 1)
        return found

    def observe(self, key: Key, value: float) -> None:
        slots = self.slots(key)
        slots[bisect_left(self.bounds, value)] += 1
        slots[-1] += value

    def add(self, key: Key, counts: Iterable[float], total: float) -> None:
        """Many observations at once: ``counts[i]`` fell in bucket ``i``, ``total`` is their sum."""
        slots = self.slots(key)
        for index, count in enumerate(counts):
            slots[index] += count
        slots[-1] += total

    def family(self, values: dict[Key, list[float]]) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, slots in sorted(values.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip(self.bounds, slots, strict=False):
                cumulative += count
                buckets.append((le_label(bound), cumulative))
            family.add_metric(list(key), buckets, slots[-1])
        return family


def summed(snapshots: Iterable[dict[str, Any]], name: str) -> dict[Key, Any]:
    """One family's values summed over the workers' snapshots (slot by slot for histograms)."""
    merged: dict[Key, Any] = {}
    for snapshot in snapshots:
        for labels, value in snapshot.get(name, []):
            key, previous = tuple(labels), merged.get(tuple(labels))
            if previous is None:
                merged[key] = value
            elif isinstance(value, list):
                merged[key] = [a + b for a, b in zip(previous, value, strict=True)]
            else:
                merged[key] = previous + value
    return merged
