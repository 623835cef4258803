"""SIGINT, SIGTERM and SIGHUP end a command through its `finally` blocks, not mid-air.

While a command runs, these signals raise `Interrupted` in the main thread, so every `finally` and
context manager on the way out runs: temporary files are dropped, child processes killed, stores
closed. `errors.run` then prints one line and exits with 128 + the signal number (130, 143, 129).

Some places must not raise, because the exception would be lost. Above all a Python callback that
c2pa's native code is calling (stream reads/writes, a signer callback): ctypes swallows an exception
leaving a callback and hands c2pa a garbage return value. Also the rest of c2pa-python, which
swallows BaseException in some teardown paths, `__del__` methods, and a fork on its way (starting a
child): the at-fork hooks (e.g. concurrent.futures' lock acquire/release pair) are called from C,
which prints what they raise and carries on with the pair broken, and a `Popen` that never returns
leaves its child unowned. There the handler only records
the signal and installs a profile hook, which

1. makes the c2pa callbacks fail cleanly: at a builtin call in a callback's own body, which lies
   inside its `try: ... except Exception: return -1`, it raises an ordinary exception, so c2pa sees a
   failed read or write and returns at once;
2. raises `Interrupted` at the first Python call outside those places.

Python drops a profile hook once it raises, so a helper thread delivers the signal again every few
milliseconds until `Interrupted` is raised: each delivery re-installs the hook or raises.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
EXIT_BASE = 128  # exit code = 128 + signal number, as shells report a death by signal
_REDELIVER_EVERY = 0.005  # seconds

# c2pa-python's functions that native code calls back (stream I/O and the signer callback).
C2PA_CALLBACKS = frozenset({"read_callback", "seek_callback", "write_callback", "flush_callback",
                            "wrapped_callback"})


class Interrupted(BaseException):
    """A signal asked the command to stop.

    A BaseException, so no `except Exception` swallows it; not a KeyboardInterrupt, which click
    would turn into "Aborted!".
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, e.g. SIGINT."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The exit code a shell reports for a death by this signal (128 + its number)."""
        return EXIT_BASE + self.signum


class NativeCallAborted(Exception):
    """Raised inside a c2pa callback's `try`, which turns it into an error return: c2pa stops."""


def _c2pa_file() -> str | None:
    return getattr(sys.modules.get("c2pa.c2pa"), "__file__", None)


def _is_callback(frame: FrameType) -> bool:
    return frame.f_code.co_name in C2PA_CALLBACKS and frame.f_code.co_filename == _c2pa_file()


# (module, function) pairs that fork: an interrupt waits until the child exists and is owned.
_FORKING = frozenset({("subprocess", "__init__"), ("subprocess", "_execute_child"),
                      ("multiprocessing.popen_fork", "_launch")})


def _must_not_raise(frame: FrameType | None) -> bool:
    """Whether an exception raised here could be lost: inside c2pa-python, a `__del__` (Python only
    prints what leaves one) or a fork."""
    c2pa_file = _c2pa_file()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename == c2pa_file:
            return True
        if (frame.f_globals.get("__name__"), code.co_name) in _FORKING:
            return True
        frame = frame.f_back
    return False


class Interrupts:
    """Context manager: the signals raise `Interrupted` while it is active (main thread only)."""

    def __init__(self) -> None:
        self.received: Interrupted | None = None
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()
        self._raised = threading.Event()  # Interrupted is on its way: cleanup must not be interrupted again
        self._redeliver: threading.Thread | None = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for name in SIGNALS:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._raised.set()
        if sys.getprofile() == self._hook:
            sys.setprofile(None)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            # A forked worker (check --jobs) inherited this handler: it behaves as it did before.
            previous = self._previous.get(signum, signal.SIG_DFL)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        if self._raised.is_set():
            return
        if self.received is None:
            self.received = Interrupted(signum)
        if _must_not_raise(frame):
            sys.setprofile(self._hook)
            if self._redeliver is None:
                self._redeliver = threading.Thread(target=self._keep_delivering, name="provenance-interrupt",
                                                   daemon=True)
                self._redeliver.start()
            return
        self._raise()

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if self._raised.is_set():
            return
        if event == "c_call" and _is_callback(frame):
            raise NativeCallAborted("interrupted")
        if event == "call" and not _must_not_raise(frame):
            self._raise()

    def _raise(self) -> None:
        assert self.received is not None
        self._raised.set()
        if sys.getprofile() == self._hook:
            sys.setprofile(None)
        raise Interrupted(self.received.signum)

    def _keep_delivering(self) -> None:
        while not self._raised.wait(_REDELIVER_EVERY):
            if self.received is not None:
                _thread.interrupt_main(signal.Signals(self.received.signum))
