"""`provenance watermark embed|detect`: the invisible watermark in the frames, on its own (docs/watermark.md)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import EXIT_FAILED, EXIT_OK
from .options import WatermarkProgress, force_option, option, watermark_encoding_options

if TYPE_CHECKING:
    from provenance.watermark import Detection


@contextmanager
def _bad_input_is_usage() -> Iterator[None]:
    """A file that cannot carry or be searched for a mark is bad input: exit 2, not 1 (which means "not found")."""
    from provenance.errors import UsageError, WatermarkError

    try:
        yield
    except WatermarkError as e:
        raise UsageError(e.message, remedy=e.remedy) from e


@click.group()
def watermark() -> None:
    """Put an invisible watermark into a video's frames, or look for one.

    \b
    The mark carries a 64-bit identifier (algorithm org.provenance.wm.v1) and
    survives stripping, re-encoding, resizing, cropping and trimming; detection
    needs no repository. `provenance sign --watermark` marks and signs in one go.
    """


@watermark.command()
@click.argument("input_path", metavar="FILE", type=click.Path(path_type=Path))
@option("-o", "--output", required=True, type=click.Path(path_type=Path), env="PROVENANCE_WATERMARK_OUTPUT",
        help="Where to write the marked clip (.mp4, .m4v, .mov, .mkv or .webm).")
@option("--id", "identifier", metavar="HEX", env="PROVENANCE_WATERMARK_ID",
        help="The identifier to embed, 16 hex digits. Default: a fresh random one.")
@watermark_encoding_options
@force_option("Overwrite an existing OUTPUT.")
def embed(input_path: Path, output: Path, identifier: str | None, codec: str | None, crf: int | None,
          force: bool) -> None:
    """Write OUTPUT: FILE re-encoded with a watermark in its frames, the audio copied.

    \b
    Exit codes: 0 written, 1 any other failure, 2 usage error (an encoder that
    refuses --codec or --crf included) or a FILE that cannot carry a mark (no
    video, fewer than 2 frames, smaller than 128 pixels). OUTPUT appears whole
    or not at all.
    """
    from provenance.errors import OutputExistsError, UsageError
    from provenance.watermark import DEFAULT_CODEC, DEFAULT_CRF, Payload
    from provenance.watermark import embed as embed_mark

    try:
        payload = Payload.from_hex(identifier) if identifier is not None else Payload.random()
    except ValueError as e:
        raise UsageError(f"--id: {e}", remedy="Give 16 hexadecimal digits, e.g. 0123456789abcdef.") from e
    if output.exists() and not force:
        raise OutputExistsError(f"{output} already exists")
    with _bad_input_is_usage(), WatermarkProgress("Marking") as progress:
        result = embed_mark(input_path, output, payload, codec=codec or DEFAULT_CODEC,
                            crf=DEFAULT_CRF if crf is None else crf, progress=progress)
    audio = "audio copied" if result.audio_copied else "no audio"
    click.echo(f"marked {input_path} -> {result.output}: id {payload.hex} ({result.frames} frames, "
               f"{result.width}×{result.height}, {result.codec} CRF {result.crf}, {audio})")


@watermark.command()
@click.argument("input_path", metavar="FILE", type=click.Path(path_type=Path))
@option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
        env="PROVENANCE_WATERMARK_FORMAT", help="Output format.")
def detect(input_path: Path, output_format: str) -> None:
    """Look for a watermark in FILE's frames and print its identifier.

    \b
    Exit codes: 0 a mark was found, 1 none was found, 2 usage error or a FILE
    that cannot be searched (no video, a single frame, smaller than 64 pixels).
    """
    from provenance.watermark import detect as detect_mark

    with _bad_input_is_usage(), WatermarkProgress("Searching") as progress:
        found = detect_mark(input_path, progress=progress)
    click.echo(json.dumps(detection_json(input_path, found), indent=2) if output_format == "json"
               else detection_text(input_path, found))
    sys.exit(EXIT_OK if found.found else EXIT_FAILED)


def detection_json(path: Path, found: Detection) -> dict[str, Any]:
    """A detection as `watermark detect --format json` prints it (docs/watermark.md)."""
    return {
        "path": str(path),
        "found": found.found,
        "identifier": found.payload.hex if found.payload is not None else None,
        "algorithm": found.algorithm,
        "score": round(found.score, 2),
        "bit_agreement": round(found.bit_agreement, 4),
        "frames": found.frames,
        "width": found.width,
        "height": found.height,
        "tile_pixels": list(found.tile_pixels) if found.tile_pixels is not None else None,
        "false_positive_bound": found.false_positive_bound,
    }


def detection_text(path: Path, found: Detection) -> str:
    """A detection for people: the identifier and how strong the evidence is."""
    evidence = (f"score {found.score:.1f} σ, {found.bit_agreement:.1%} of coded bits agree, "
                f"{found.frames} frames read")
    if found.payload is None:
        return f"{path}: no watermark found ({evidence})"
    return (f"{path}: watermark found: id {found.payload.hex} ({found.algorithm}; {evidence}; "
            f"false-positive probability at most {found.false_positive_bound:.1e})")
