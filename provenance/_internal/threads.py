"""A function run in a thread whose result, or exception, the caller collects."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Worker(threading.Thread, Generic[T]):
    """Runs `target` in a daemon thread; `result()` waits for it and returns its value or re-raises its
    exception in the caller's thread.

    Waiting uses an Event, not join(): on Python 3.11, a join() interrupted by a signal handler's
    exception marks the thread stopped while it still runs (CPython's bpo-45274 fix), and is_alive()
    then lies. `finished` stays true to the thread, so an interrupted wait can simply be repeated.
    """

    def __init__(self, name: str, target: Callable[[], T]) -> None:
        super().__init__(name=name, daemon=True)
        self._target_function = target
        self._value: T | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self._value = self._target_function()
        except BaseException as e:  # handed to the caller by result()
            self.error = e
        finally:
            self.finished.set()

    def result(self) -> T:
        self.finished.wait()
        if self.error is not None:
            raise self.error
        return self._value  # type: ignore[return-value]  # set when run() returned without error
