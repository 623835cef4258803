"""The full manifest store of a file as c2pa reports it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from provenance import limits
from provenance import media as media_mod
from provenance._formats import jumbf
from provenance.errors import LimitExceeded, MediaError


def manifest_store_json(path: str | os.PathLike[str], *, detailed: bool = False, crjson: bool = False) -> str:
    """c2pa's report on the file's manifest store (its detailed one when `detailed`, its crJSON when `crjson`),
    as indented JSON."""
    import c2pa

    p = Path(path)
    kind = media_mod.detect(p)
    sidecar = media_mod.sidecar_path(p)
    try:
        with open(p, "rb") as stream:
            # The same reading as verify: limits before c2pa parses, and an embedded manifest beats a sidecar.
            found = jumbf.scan(stream, os.fstat(stream.fileno()).st_size, kind)
            if found.units > limits.MAX_BOXES_FOR_C2PA:
                raise LimitExceeded(f"the file has more than {limits.MAX_BOXES_FOR_C2PA:,} boxes, too many to inspect")
            stream.seek(0)
            has_sidecar = sidecar.is_file()
            reader = None
            if kind.embeddable and not (found.stores == 0 and found.complete and has_sidecar):
                reader = c2pa.Reader.try_create(kind.mime, stream)
            if reader is None and has_sidecar:
                stream.seek(0)
                reader = c2pa.Reader(kind.mime, stream, jumbf.read_sidecar(sidecar))
            if reader is None:
                raise MediaError(f"{p}: carries no C2PA manifest", remedy="Nothing to inspect; sign it first.")
            with reader:
                report = reader.crjson() if crjson else reader.detailed_json() if detailed else reader.json()
    except LimitExceeded as e:
        raise LimitExceeded(f"{p}: refused: {e.message}") from e
    except c2pa.C2paError as e:
        raise MediaError(f"{p}: cannot be read: {e}") from e
    return json.dumps(json.loads(report), indent=2)
