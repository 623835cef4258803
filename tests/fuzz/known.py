"""Findings reported to the lead and not fixed yet, in modules other engineers own (verify.py, jumbf.py,
bmff.py, fastverify.py, bmffhash.py).

While one is listed here, the fuzz targets count an exception that matches it as "known" instead of
failing, so the lane keeps looking for new findings. Each one has a reproducer in test_findings.py,
marked xfail(strict=True): when the module is fixed, that test passes, strict xfail turns it into a
failure, and the entry here (and the xfail mark) must go.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    id: str
    exception: type[BaseException]
    file: str  # the module (path suffix) of the innermost frame in provenance/
    function: str  # that frame's function ("*": any)
    summary: str
    # For findings seen through verify(), which turns its own bugs into an `error` verdict: the
    # harness's "INTERNAL ERROR" assertion whose message matches this.
    verdict_error: str | None = None


KNOWN: tuple[Known, ...] = ()  # F1-F4 (bmff nesting, jumbf negative reads, bmffhash numbers, fast-path tail) fixed


def innermost_provenance_frame(error: BaseException) -> tuple[str, str] | None:
    """(file, function) of the deepest traceback frame inside the provenance package."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if "/provenance/" in frame.filename.replace("\\", "/"):
            found = (frame.filename.replace("\\", "/"), frame.name)
    return found


def match(error: BaseException) -> str | None:
    """The id of the known finding `error` is an instance of, or None."""
    if isinstance(error, AssertionError):
        for known in KNOWN:
            if known.verdict_error and re.search(known.verdict_error, str(error)):
                return known.id
    frame = innermost_provenance_frame(error)
    if frame is None:
        return None
    for known in KNOWN:
        if (isinstance(error, known.exception) and frame[0].endswith(known.file)
                and known.function in ("*", frame[1])):
            return known.id
    return None
