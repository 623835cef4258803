"""`provenance serve-repository`: the manifest repository over the C2PA Soft Binding Resolution API."""

from __future__ import annotations

import socket
from pathlib import Path

import click

from .options import load_trust_anchors, option, store_option, trust_anchors_option


@click.command("serve-repository")
@store_option
@option("--host", default="127.0.0.1", show_default=True, env="PROVENANCE_HOST", help="Address to listen on.")
@option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True, env="PROVENANCE_PORT",
        help="TCP port to listen on.")
@trust_anchors_option
@option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=512, show_default=True,
        env="PROVENANCE_MAX_UPLOAD_MB", help="Largest asset accepted by POST /matches/byContent, in MiB.")
def serve_repository(store: str | None, host: str, port: int, trust_anchors: Path | None,
                     max_upload_mb: int) -> None:
    """Serve the manifest repository over the C2PA Soft Binding Resolution API.

    \b
    Routes: GET/POST /matches/byBinding, POST /matches/byContent,
    GET /manifests/{manifestId}, GET /services/supportedAlgorithms; the
    OpenAPI document at /openapi.json. POST /manifests registers a signed
    manifest store; it needs the bearer token in PROVENANCE_REPOSITORY_TOKEN
    (unset: submissions are refused). With trust anchors (--trust-anchors or
    the default file) only manifests whose signer chains to them are accepted.
    Stops on Ctrl-C. Exit 1 when the repository or the port cannot be used.
    """
    from provenance.errors import ProvenanceError

    try:
        import uvicorn

        from provenance.durability.resolution_api import ServiceSettings, create_app, token_from_environment
    except ImportError as e:
        raise ProvenanceError("the repository server is not installed",
                              remedy="pip install 'provenance[server]'") from e
    from provenance.durability.repository import open_repository
    from provenance.verify import Verifier

    anchors = load_trust_anchors(trust_anchors)
    repository = open_repository(store)
    assert repository is not None  # create=True always opens one
    with repository:
        settings = ServiceSettings(token=token_from_environment(), max_upload=max_upload_mb * 1024 * 1024,
                                   require_trusted=anchors is not None)
        app = create_app(repository, Verifier(anchors), settings)
        # Bound here, so a busy port is one clear error instead of uvicorn's own exit.
        try:
            listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        except OSError as e:
            raise ProvenanceError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                                  remedy="Choose another --port or --host, or stop what is using it.") from e
        with listener:
            bound = listener.getsockname()[1]
            click.echo(f"serving {repository.location} on http://{host}:{bound} "
                       f"(submissions {'enabled' if settings.token else 'disabled'})", err=True)
            config = uvicorn.Config(app, log_level="warning", server_header=False)
            uvicorn.Server(config).run(sockets=[listener])
