"""All-or-nothing output files: write to a temporary file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class AtomicWrite:
    """Collects temporary files and renames them into place together on commit."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def open(self, target: Path) -> BinaryIO:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        self._pending.append((Path(tmp), target))
        return os.fdopen(fd, "w+b")

    def commit(self) -> None:
        for tmp, _ in self._pending:
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
        for tmp, target in self._pending:
            os.replace(tmp, target)
        self._pending.clear()

    def abort(self) -> None:
        for tmp, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._pending.clear()


@contextlib.contextmanager
def atomic_files() -> Iterator[AtomicWrite]:
    writer = AtomicWrite()
    try:
        yield writer
        writer.commit()
    finally:
        writer.abort()


def write_bytes_atomically(target: Path, data: bytes) -> None:
    with atomic_files() as w, w.open(target) as f:
        f.write(data)
