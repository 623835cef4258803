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

# Files c2pa parses whole (PDF, SVG) larger than this are refused. Measured (c2pa 0.91): a PDF holding one
# 100 MB stream took 0.5 s and 260 MB resident.
MAX_WHOLE_PARSE_BYTES = 128 << 20

# Objects in a PDF, those packed in object streams included: c2pa loads each (about 1 KB): 500 000 objects
# (24 MB on disk) took 2.1 s and 500 MB; one 4.7 MB object stream of a million, 4.6 s and 1.2 GB.
MAX_PDF_OBJECTS = 100_000

# An ID3 tag (MP3, FLAC) is read whole by c2pa: room for a manifest store and cover art.
MAX_ID3_TAG_BYTES = 2 * MAX_MANIFEST_STORE_BYTES

# Entries in the central directory of a ZIP-based file (EPUB, Office): 200 000 took c2pa 2.4 s and 96 MB.
MAX_ZIP_ENTRIES = 100_000
