"""Resource limits that hold for every file and request, whoever wrote it.

Each bound is checked by provenance's own readers before c2pa parses anything,
so no input can make verification slow or large. docs/security.md states them.
"""

from __future__ import annotations

# A manifest store (embedded, or a .c2pa sidecar) larger than this is refused. A generator's store with
# thumbnails is tens of KB; a remix chain carries its ingredients' stores too, hence the margin.
MAX_MANIFEST_STORE_BYTES = 32 << 20

# Boxes (BMFF), chunks (RIFF, PNG) or segments (JPEG) c2pa's full Reader may parse. c2pa's BMFF parse
# takes time quadratic in the box count (measured, c2pa 0.91: 4 000 boxes 0.17 s, 16 000 1.5 s), so
# above this a BMFF file is checked on the fast path (linear) or refused.
MAX_BOXES_FOR_C2PA = 10_000

# Top-level boxes any BMFF file may have on any path; above this it is refused. A fragmented MP4
# has two a fragment: with 2-second fragments this is 5.5 hours of video.
MAX_TOP_LEVEL_BOXES = 20_000

# JUMBF boxes in one manifest store (a manifest has a few per assertion).
MAX_JUMBF_BOXES = 20_000

# `provenance check`: seconds one file may take before it is reported as `error` and the run goes on.
DEFAULT_FILE_TIMEOUT = 120.0
