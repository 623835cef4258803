"""Child processes that never outlive this one.

Every program the library runs (ffmpeg for the soft binding, an external signer command) starts
here. On Linux the child asks the kernel (prctl PR_SET_PDEATHSIG) for SIGKILL when its parent goes,
so even a `provenance` killed with SIGKILL leaves no orphan running. The kernel's "parent" is the
*thread* that started the child: `run` waits in that thread, so the child never loses it early.

A `Cancel` lets another thread stop a child at once: the signing thread cancels the soft-binding
ffmpeg when signing fails or is interrupted, instead of leaving it to decode to the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1
_SIGKILL = int(signal.SIGKILL) if hasattr(signal, "SIGKILL") else 9

Args = Sequence[str | os.PathLike[str]]


@functools.lru_cache(maxsize=1)
def _prctl() -> Any:
    """libc's prctl, looked up once in the parent (nothing is looked up between fork and exec)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGKILL when this process dies; None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        # In the child, between fork and exec: one C call, no imports, no locks.
        prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), _SIGKILL)

    return preexec


def die_with(parent: int) -> None:
    """In a forked worker process (no exec): get SIGKILL when `parent` dies, as `die_with_parent` children do."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), _SIGKILL)


def popen(args: Args, **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen, with a child that dies with this process."""
    return subprocess.Popen(args, preexec_fn=die_with_parent(), **kwargs)


class Cancel:
    """Kills, from any thread, the children started with it: those running and any started later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: list[subprocess.Popen[Any]] = []
        self.cancelled = False

    def adopt(self, child: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._children.append(child)
            cancelled = self.cancelled
        if cancelled:
            _kill(child)

    def forget(self, child: subprocess.Popen[Any]) -> None:
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            children = list(self._children)
        for child in children:
            _kill(child)


def _kill(child: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(OSError):
        child.kill()  # polls first, so an already reaped child's pid is never signalled


def run(args: Args, *, input: bytes | str | None = None, timeout: float | None = None,
        cancel: Cancel | None = None, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """Like subprocess.run(check=False), with a child that dies with this process.

    A timeout, an interrupt (KeyboardInterrupt or any other exception raised while waiting) or
    `cancel` kills the child before this returns or raises.
    """
    if input is not None:
        kwargs.setdefault("stdin", subprocess.PIPE)
    if kwargs.pop("capture_output", False):
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with popen(args, **kwargs) as child:  # Popen.__exit__ reaps it
        if cancel is not None:
            cancel.adopt(child)
        try:
            stdout, stderr = child.communicate(input, timeout=timeout)
        except BaseException:
            _kill(child)
            raise
        finally:
            if cancel is not None:
                cancel.forget(child)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
