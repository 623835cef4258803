"""An invisible watermark in the frames of a video: a 64-bit identifier that survives re-encoding,
resizing, cropping, trimming and re-timing, found again with no repository (docs/watermark.md).

    from provenance.watermark import Payload, embed, detect
    marked = embed("clip.mp4", "marked.mp4", Payload.random())
    found = detect("copy.mp4")  # found.payload == marked.payload

Classical signal processing with numpy and scipy: no trained model, nothing downloaded.
"""

from typing import TYPE_CHECKING, Any

from provenance.watermark.interface import (
    ALGORITHM_ID,
    FALSE_POSITIVE_BOUND,
    Detection,
    EmbedResult,
    Payload,
    Progress,
)

if TYPE_CHECKING:
    from provenance.watermark.video import DEFAULT_CODEC, DEFAULT_CRF, detect, embed

# The video side (scipy, about a second to import) loads on first use: the repository and the CLI's
# --help need only the identifiers above.
_VIDEO = ("DEFAULT_CODEC", "DEFAULT_CRF", "detect", "embed")


def __getattr__(name: str) -> Any:
    if name in _VIDEO:
        from provenance.watermark import video

        return getattr(video, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ALGORITHM_ID", "DEFAULT_CODEC", "DEFAULT_CRF", "FALSE_POSITIVE_BOUND", "Detection", "EmbedResult",
           "Payload", "Progress", "detect", "embed"]
