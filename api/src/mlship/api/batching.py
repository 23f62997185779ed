"""Adaptive batching: concurrent requests for one model share one runtime call.

The first request to arrive opens a batch and waits at most ``max_wait``
seconds; requests arriving meanwhile join it, and a batch that reaches
``max_rows`` runs at once. A runtime call has a fixed cost per call as well
as per row, so under concurrency fewer, larger calls save CPU; at low
concurrency the wait is pure latency, which is why it is a setting
(``API_BATCH_MAX_WAIT_MS``, 0 = off) and the bench decides its default.
Everything runs on the event loop's thread: no lock, no thread hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


class AdaptiveBatcher:
    def __init__(self, infer: Infer, max_rows: int, max_wait: float) -> None:
        self.infer, self.max_rows, self.max_wait = infer, max_rows, max_wait
        self._pending: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) >= self.max_rows:
            return self.infer(rows)  # already a full batch
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((rows, future))
        self._rows += len(rows)
        if self._rows >= self.max_rows:
            self._run()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait, self._run)
        return await future

    def _run(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending, self._rows = self._pending, [], 0
        if not pending:
            return
        try:
            if len(pending) == 1:
                results = [self.infer(pending[0][0])]
            else:
                offsets = np.cumsum([len(rows) for rows, _ in pending])[:-1]
                results = np.split(self.infer(np.vstack([rows for rows, _ in pending])), offsets)
        except Exception as error:  # every waiting request learns of the failure
            for _, future in pending:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(pending, results, strict=True):
            if not future.done():  # a request cancelled meanwhile (client gone)
                future.set_result(result)
