"""The one interface every report format implements."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

from provenance.check.runner import CheckReport

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ReportFormat(ABC):
    """One output format of `provenance check`: turns a finished CheckReport into the text to write."""
    name: ClassVar[str]

    @abstractmethod
    def format(self, report: CheckReport) -> str:
        """The whole report as text, ending with a newline (except an empty report)."""


def one_line(text: str) -> str:
    """Control characters (a newline in a file name, say) shown escaped, so one record stays one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
