"""The full manifest store of a file as c2pa reports it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import media as media_mod
from .errors import MediaError


def manifest_store_json(path: str | os.PathLike[str], *, detailed: bool = False) -> str:
    import c2pa

    p = Path(path)
    kind = media_mod.detect(p)
    sidecar = media_mod.sidecar_path(p)
    try:
        with open(p, "rb") as stream:
            if sidecar.is_file():
                reader = c2pa.Reader(kind.mime, stream, sidecar.read_bytes())
            elif not kind.embeddable:
                reader = None
            else:
                reader = c2pa.Reader.try_create(kind.mime, stream)
            if reader is None:
                raise MediaError(f"{p}: carries no C2PA manifest", remedy="Nothing to inspect; sign it first.")
            with reader:
                report = reader.detailed_json() if detailed else reader.json()
    except c2pa.C2paError as e:
        raise MediaError(f"{p}: cannot be read: {e}") from e
    return json.dumps(json.loads(report), indent=2)
