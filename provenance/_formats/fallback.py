"""The base of every exception that hands an input back to c2pa's own (slower) code."""

from __future__ import annotations


class FallBackToC2pa(Exception):
    """This input is for c2pa's own path: provenance's faster code does not handle it, and c2pa does the work.

    Never a failure the user sees; callers log the reason (at INFO, shown with `--verbose`) and fall back.
    """
