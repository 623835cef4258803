"""Run per-file work in batches on workers that may die: local processes or a Dask cluster.

`run_tasks` hands batches of items to a `Workers` backend and yields each item's result exactly once,
as batches finish. A batch whose worker dies (or that runs out of time) is split and each of its items
run again alone, so the item that caused it is told apart from the others; an item whose lone task
dies a second time, or runs out of time, gets a failure result and the run goes on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

ATTEMPTS = 2  # an item whose task loses its worker this many times is given up on
# Tasks in flight per worker slot: one running and one waiting, so a worker starts its next task as soon as one
# ends instead of idling while the result travels back and the next task comes (a round trip through a scheduler).
IN_FLIGHT = 2

_T = TypeVar("_T")  # one item of work (a path, a signing job)
_R = TypeVar("_R")  # its result

# A task: task(shared, batch) → one result per item of the batch, in order; a module-level function.
Task = Callable[[Any, list[Any]], list[Any]]


@dataclass(frozen=True)
class TaskFailure:
    """Why an item got no result: its worker died twice (`crashed`), else it ran out of time."""

    crashed: bool


class Workers(Protocol):
    """Where tasks run: submit, wait, and learn how each ended."""

    def slots(self) -> int:
        """How many tasks run at once."""

    def submit(self, task: Task, batch: list[Any]) -> Any:
        """Start `task(shared, batch)`; a handle to wait on."""

    def wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        """The handles among `handles` that have ended, waiting at most `timeout` seconds for the first."""

    def results(self, handle: Any) -> list[Any] | None:
        """An ended task's results; None when its worker died. Raises when the task failed otherwise."""

    def abandon(self, handle: Any) -> None:
        """Give up on a task that is still running (its worker is stopped or replaced)."""


@dataclass
class _Batch:
    items: list[int]  # indices into the work list
    deadline: float | None  # monotonic time after which the batch is given up on


@dataclass
class _Run(Generic[_T, _R]):
    workers: Workers
    items: Sequence[_T]
    task: Task
    timeout: float | None
    on_failure: Callable[[_T, TaskFailure], _R]
    running: dict[Any, _Batch] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    alone: list[int] = field(default_factory=list)  # to run again, one a task

    def submit(self, indices: list[int]) -> None:
        handle = self.workers.submit(self.task, [self.items[i] for i in indices])
        # It may wait for the task ahead of it on its worker, of about its own size, before it starts.
        deadline = time.monotonic() + self.timeout * len(indices) * IN_FLIGHT if self.timeout is not None else None
        self.running[handle] = _Batch(indices, deadline)

    def failed(self, batch: _Batch, *, crashed: bool) -> list[tuple[int, _R]]:
        """Results for the items of a failed batch given up on now; the others are queued to run alone."""
        if crashed:  # each item shared the crash: the one that caused it is found when it crashes again alone
            for index in batch.items:
                self.attempts[index] = self.attempts.get(index, 0) + 1
        if len(batch.items) > 1:
            self.alone.extend(reversed(batch.items))
            return []
        index = batch.items[0]
        if crashed and self.attempts[index] < ATTEMPTS:
            self.alone.append(index)
            return []
        return [(index, self.on_failure(self.items[index], TaskFailure(crashed)))]


def pool_context() -> multiprocessing.context.BaseContext:
    """How local worker processes start: fork while that is safe, else spawn."""
    # fork is the cheapest start on Linux while the parent has no threads and has not loaded c2pa's library
    # (the CLI's case). Once it has (a caller that signed or read files first), a forked worker can wait
    # forever on c2pa's worker threads, which it does not have (seen reading a PDF): start workers afresh
    # (spawn, not forkserver: a worker's parent must be this process, see `die_with`).
    fork = "fork" in multiprocessing.get_all_start_methods() and "c2pa" not in sys.modules
    return multiprocessing.get_context("fork" if fork else "spawn")


def batch_size(items: int, slots: int) -> int:
    """Files a task: several, so a worker is not idle while answers travel; few enough to spread the work.

    At least 8 tasks a slot. A Dask task costs about 17 ms of CPU between client, scheduler and worker
    (measured with all three on 2 cores), a quarter of verifying a 75 MB clip: 50 such clips on 2 workers
    go 3 to a task (docs/scale.md).
    """
    return max(1, min(16, items // (slots * 8)))


def run_tasks(workers: Workers, items: Sequence[_T], task: Task, *, on_failure: Callable[[_T, TaskFailure], _R],
              timeout: float | None = None, batch: int | None = None) -> Iterator[tuple[int, _R]]:
    """(index, result) for every item of `items`, each exactly once, as the tasks running them end.

    `timeout` is the time an item may take (a batch gets that much per item, twice over since it may
    wait for the one ahead of it); None for no limit. At most IN_FLIGHT tasks a worker slot are sent
    at once, so a task starts soon after it is sent and its time limit can count from then.
    """
    run: _Run[_T, _R] = _Run(workers, items, task, timeout or None, on_failure)
    size = batch or batch_size(len(items), workers.slots())
    pending = list(range(len(items)))[::-1]  # popped from the end, in order
    left = len(items)
    while left:
        while (run.alone or pending) and len(run.running) < workers.slots() * IN_FLIGHT:
            run.submit([run.alone.pop()] if run.alone else [pending.pop() for _ in range(min(size, len(pending)))])
        deadlines = [b.deadline for b in run.running.values() if b.deadline is not None]
        wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for handle in workers.wait(list(run.running), wait):
            batch_run = run.running.pop(handle)
            results = workers.results(handle)
            ended = (list(zip(batch_run.items, results, strict=True)) if results is not None
                     else run.failed(batch_run, crashed=True))
            for index, result in ended:
                left -= 1
                yield index, result
        now = time.monotonic()
        for handle, batch_run in list(run.running.items()):
            if batch_run.deadline is not None and now >= batch_run.deadline:
                del run.running[handle]
                workers.abandon(handle)
                for index, result in run.failed(batch_run, crashed=False):
                    left -= 1
                    yield index, result


# ---- local worker processes ----------------------------------------------------------------------

_shared: Any = None  # in a worker process: the value every task of the run gets


def _start_worker(parent: int, shared: Any) -> None:
    global _shared
    from provenance._internal.children import die_with

    die_with(parent)  # a killed parent must not leave its workers writing
    _shared = shared


def _call(task: Task, batch: list[Any]) -> list[Any]:
    return task(_shared, batch)


class ProcessWorkers:
    """`Workers` as `jobs` local processes; a process that dies is replaced (with the whole pool, which breaks)."""

    def __init__(self, jobs: int, shared: Any, *, fresh: bool = False) -> None:
        self.jobs = max(1, jobs)
        self.shared = shared
        self.fresh = fresh  # start processes afresh (spawn), never forked from this one
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pool_of: dict[Any, concurrent.futures.ProcessPoolExecutor] = {}  # task → the pool it runs in

    def __enter__(self) -> ProcessWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)
            self._pool = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:

            context = multiprocessing.get_context("spawn") if self.fresh else pool_context()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.jobs, mp_context=context, initializer=_start_worker,
                initargs=(os.getpid(), self.shared))
        return self._pool

    def slots(self) -> int:
        """One task a process."""
        return self.jobs

    def submit(self, task: Task, batch: list[Any]) -> Any:
        """Send a batch to the pool, starting a new pool if the last one broke."""
        try:
            handle = self._executor().submit(_call, task, batch)
        except concurrent.futures.process.BrokenProcessPool:
            self._pool = None
            handle = self._executor().submit(_call, task, batch)
        self._pool_of[handle] = self._executor()
        return handle

    def wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        """The tasks that have ended."""
        done, _ = concurrent.futures.wait(handles, timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def results(self, handle: Any) -> list[Any] | None:
        """A task's results; None when a process died (every task running then ends so)."""
        pool = self._pool_of.pop(handle, None)
        try:
            results: list[Any] = handle.result()
        except concurrent.futures.process.BrokenProcessPool:
            if pool is not None and pool is self._pool:  # not yet replaced by a task of the same crash
                with contextlib.suppress(Exception):
                    pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            return None
        return results

    def abandon(self, handle: Any) -> None:
        """A stuck process cannot be stopped alone: the pool is replaced (its other tasks count as crashed)."""
        pool = self._pool_of.pop(handle, None)
        if pool is not None:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
