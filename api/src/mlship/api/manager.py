"""Keeps the served model current: polls the source, loads off the request path, swaps.

Requests read ``manager.current`` once and use that object to the end, so a
swap (one attribute assignment) never changes the model under a request in
flight. A version that fails to load or fails its smoke check is remembered
and not retried; the previous model keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlship.api.metrics import Metrics
from mlship.api.model_files import read_model_files
from mlship.api.served import ServedModel
from mlship.api.source import ModelRef, ModelSource, NoModelError, RegistryUnreachableError

logger = logging.getLogger("mlship.api.model")


@dataclass
class RegistryStatus:
    reachable: bool | None = None
    unreachable_since: datetime | None = None
    last_check: datetime | None = None
    last_error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "unreachable_since": self.unreachable_since.isoformat()
            if self.unreachable_since
            else None,
            "last_check": self.last_check.isoformat() if self.last_check else None,
            "last_error": self.last_error,
        }


class ModelManager:
    """The model being served and the task that keeps it current."""

    def __init__(
        self, source: ModelSource, metrics: Metrics, interval: float, **batching: Any
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.interval = interval
        self.batching = batching  # ServedModel's batch_max_rows and batch_max_wait
        self.current: ServedModel | None = None
        self.registry = RegistryStatus()
        self.failed_versions: dict[str, str] = {}
        self.waiting_reason: str | None = "the first registry check has not finished"
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._first_check_done = asyncio.Event()

    def _reached(self, error: str | None) -> None:
        now = datetime.now(UTC)
        self.registry.last_check = now
        if error is None:
            self.registry.reachable = True
            self.registry.unreachable_since = None
            self.registry.last_error = None
        else:
            if self.registry.reachable is not False:
                self.registry.unreachable_since = now
                logger.warning("model registry unreachable", extra={"error": error})
            self.registry.reachable = False
            self.registry.last_error = error
        self.metrics.registry_reachable.set(0 if error else 1)

    async def refresh(self) -> str:
        """Check the source once; load and swap in a new version. Returns what happened."""
        async with self._lock:
            try:
                ref = await asyncio.to_thread(self.source.resolve)
            except NoModelError as error:
                self._reached(None)
                self.waiting_reason = str(error)
                return "no_model"
            except RegistryUnreachableError as error:
                self._reached(str(error))
                return "unreachable"
            self._reached(None)
            current = self.current
            if current is not None and (current.ref.name, current.ref.version) == (
                ref.name,
                ref.version,
            ):
                if current.ref.aliases != ref.aliases:
                    current.ref = ref
                return "unchanged"
            if ref.version in self.failed_versions:
                return "failed"
            return await self._load(ref)

    async def _load(self, ref: ModelRef) -> str:
        started = time.perf_counter()
        try:
            served = await asyncio.to_thread(self._build, ref)
        except Exception as error:
            # Any failure of a new version (download, unpickling, smoke check) keeps the old one.
            self.failed_versions[ref.version] = f"{type(error).__name__}: {error}"
            self.metrics.reloads.labels(result="failed").inc()
            logger.error(
                "model version rejected, the previous model keeps serving",
                extra={"model_name": ref.name, "model_version": ref.version, "error": str(error)},
            )
            return "failed"
        duration = time.perf_counter() - started
        previous, self.current = self.current, served
        self.waiting_reason = None
        self.metrics.load_duration.observe(duration)
        self.metrics.reloads.labels(result="success").inc()
        if previous is not None:
            self.metrics.model_info.labels(
                previous.ref.name, previous.ref.version, previous.ref.run_id or ""
            ).set(0)
            self.metrics.model_runtime.labels(previous.runtime.name).set(0)
        self.metrics.model_info.labels(ref.name, ref.version, ref.run_id or "").set(1)
        self.metrics.model_runtime.labels(served.runtime.name).set(1)
        self.metrics.model_loaded.set(1)
        logger.info(
            "model version serving",
            extra={
                "model_name": ref.name,
                "model_version": ref.version,
                "previous_version": previous.ref.version if previous else None,
                "load_seconds": round(duration, 3),
                "runtime": served.runtime.name,
                "runtime_note": served.runtime.note,
            },
        )
        return "loaded"

    def _build(self, ref: ModelRef) -> ServedModel:
        workdir = Path(tempfile.mkdtemp(prefix="mlship-model-"))
        try:
            directory = self.source.fetch(ref, workdir)
            return ServedModel.build(
                ref, read_model_files(directory), self.metrics, **self.batching
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _poll(self) -> None:
        while True:
            try:
                outcome = await self.refresh()
            except Exception:
                logger.exception("model refresh failed unexpectedly")
                outcome = "error"
            self._first_check_done.set()
            if outcome in {"loaded", "unchanged"} and not self.source.uses_registry:
                return  # a local directory does not change
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if not self.source.uses_registry:
            self.metrics.registry_reachable.set(1)
        self._task = asyncio.create_task(self._poll(), name="mlship-model-poller")

    async def wait_for_first_check(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the first check has loaded a model or found none.

        Start-up waits for it so that a worker uvicorn starts, or restarts after a crash,
        takes connections only once it can serve: its siblings share the listening socket
        and are serving already. A registry that is slow or down bounds the wait, and the
        worker then starts live but not ready, as it does when there is no model yet.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_check_done.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.current is not None:
            self.current.unload()
