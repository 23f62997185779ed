"""Metric updates gathered as plain numbers and applied to prometheus_client in one pass.

prometheus_client takes a lock (or, with several workers, writes a memory-mapped
file) for every increment, and one prediction touches about eighteen values:
that cost more than the prediction itself. The request path adds to plain
lists instead (``Tally.counter`` and ``Tally.histogram`` mirror one metric
child each), and ``flush`` moves their contents into the metrics: before every
exposition, so a scrape of a single process is exact, and every second or so
(``Metrics.flush_every``), so with several workers another worker's files are at
most that old when one of them renders the merged view.

Only the event loop's thread adds to the mirrors and flushes them (every
endpoint and middleware is ``async``), so no lock is needed. Mirrors may be
created from other threads (a model version is built in one): creating one is
a single atomic dict operation and ``flush`` iterates over a snapshot.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any


def observe(slots: list[float], upper_bounds: list[float], value: float) -> None:
    """Record ``value`` in a histogram mirror (``Histogram.observe``'s ``le`` semantics)."""
    slots[bisect_left(upper_bounds, value)] += 1
    slots[-1] += value


class Tally:
    """Plain-number mirrors of metric children; ``flush`` adds them to the children."""

    __slots__ = ("_mirrors",)

    def __init__(self) -> None:
        # id(child) -> (child, its value objects, the pending amount of each)
        self._mirrors: dict[int, tuple[Any, list[Any], list[float]]] = {}

    def _mirror(self, child: Any, values: list[Any]) -> list[float]:
        found = self._mirrors.get(id(child))
        if found is None:  # the child is kept too, so its id is never reused for another
            found = self._mirrors.setdefault(id(child), (child, values, [0.0] * len(values)))
        return found[2]

    def counter(self, child: Any) -> list[float]:
        """A one-slot list for a counter child: adding to ``[0]`` is ``child.inc``."""
        return self._mirror(child, [child._value])

    def histogram(self, child: Any) -> list[float]:
        """Slots for a histogram child: one per bucket (+Inf included), then the sum.

        prometheus_client keeps buckets non-cumulative (``observe`` increments
        one bucket), so slot ``i`` counts the observations that fall in bucket ``i``.
        """
        return self._mirror(child, [*child._buckets, child._sum])

    def flush(self) -> None:
        """Add every pending amount to its metric and start again from zero."""
        for _, values, slots in list(self._mirrors.values()):
            for index, amount in enumerate(slots):
                if amount:
                    values[index].inc(amount)
                    slots[index] = 0.0
