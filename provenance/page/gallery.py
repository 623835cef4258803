"""A folder's media for the verify page: found as `check` finds them, verified one by one in the background."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance import explain
from provenance.check.walk import discover
from provenance.verdict import Verdict

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One file of the gallery: where it is, what the page calls it, and its verdict once it has one."""

    index: int
    name: str  # relative to the folder, forward slashes
    path: Path
    verdict: Verdict | None = None
    report: dict[str, Any] | None = None


class Gallery:
    """The media under one folder; the only files the page ever serves from the disk are these."""

    def __init__(self, folder: Path, report: Callable[[Path], tuple[Verdict, dict[str, Any]]]) -> None:
        """Find the media under `folder`; `report` verifies one (the page's own call) once `start` runs."""
        self.folder = folder
        found = discover([folder], root=folder)
        self.items = [Item(i, c.display, c.path) for i, c in enumerate(c for c in found if c.error is None)]
        self._report = report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Verify every item in a background thread, in order."""
        self._thread = threading.Thread(target=self._run, name="provenance-gallery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the item being verified; waits for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        for item in self.items:
            if self._stop.is_set():
                return
            verdict, report = self._report(item.path)
            item.report = report  # before the verdict: an item counted done always has its report
            item.verdict = verdict

    def item(self, index: int) -> Item | None:
        """The item at `index` of the list, or None (an index is all a client can name)."""
        return self.items[index] if 0 <= index < len(self.items) else None

    def progress(self) -> dict[str, Any]:
        """How far verification is, and each item with its badge once it has one."""
        listed = [{"id": item.index, "name": item.name, "done": item.verdict is not None,
                   "verdict": item.verdict.verdict.value if item.verdict else None,
                   "badge": explain.BADGES[item.verdict.verdict] if item.verdict else None,
                   "sentence": explain.summary(item.verdict) if item.verdict else None,
                   "poster": item.report.get("poster") if item.report else None}
                  for item in self.items]
        return {"folder": self.folder.name, "total": len(listed), "done": sum(i["done"] for i in listed),
                "items": listed}
