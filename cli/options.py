"""Options shared by several commands; each has a PROVENANCE_* environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provenance.pki import ALGORITHMS

alg_option = click.option(
    "--alg", type=click.Choice(ALGORITHMS, case_sensitive=False), default=None, envvar="PROVENANCE_ALG",
    help="Signature algorithm (default: inferred from the key).  [env: PROVENANCE_ALG]")

trust_anchors_option = click.option(
    "--trust-anchors", type=click.Path(path_type=Path), envvar="PROVENANCE_TRUST_ANCHORS",
    help="PEM bundle of trusted root/intermediate CAs. Given anchors make an untrusted signer fail.  "
         "[env: PROVENANCE_TRUST_ANCHORS]")


def load_trust_anchors(path: Path | None) -> Any:
    if path is None:
        return None
    from provenance.trust import load_anchors

    return load_anchors(path)
