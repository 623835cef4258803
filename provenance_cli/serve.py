"""`provenance serve-repository`: the manifest repository over the C2PA Soft Binding Resolution API."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import click

from .options import default_lists, load_trust_anchors, option, store_option, trust_anchors_option, trust_options

# Shared by `serve` and `serve-repository`.
host_option = option("--host", default="127.0.0.1", show_default=True, env="PROVENANCE_HOST",
                     help="Address to listen on (anything but a loopback address serves other machines too).")
max_upload_option = option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=512, show_default=True,
                           env="PROVENANCE_MAX_UPLOAD_MB",
                           help="Largest upload accepted (POST /matches/byContent, POST /api/verify), in MiB.")


@click.command("serve-repository")
@store_option
@host_option
@option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True, env="PROVENANCE_PORT",
        help="TCP port to listen on.")
@trust_anchors_option
@max_upload_option
@option("--verify-page", is_flag=True, env="PROVENANCE_VERIFY_PAGE",
        help="Also serve the verify page (as `provenance serve` does) at /verify/, with recovery through this "
             "repository.")
def serve_repository(store: str | None, host: str, port: int, trust_anchors: Path | None,
                     max_upload_mb: int, verify_page: bool) -> None:
    """Serve the manifest repository over the C2PA Soft Binding Resolution API.

    \b
    Routes: GET/POST /matches/byBinding, POST /matches/byContent,
    GET /manifests/{manifestId}, GET /services/supportedAlgorithms; the
    OpenAPI document at /openapi.json. POST /manifests registers a signed
    manifest store; it needs the bearer token in PROVENANCE_REPOSITORY_TOKEN
    (unset: submissions are refused). With trust anchors (--trust-anchors or
    the default file) only manifests whose signer chains to them are accepted.
    With --verify-page, the verify page at /verify/ lets anyone check a clip.
    Stops on Ctrl-C. Exit 1 when the repository or the port cannot be used.
    """
    from provenance.errors import ProvenanceError

    try:
        from provenance.durability.resolution_api import ServiceSettings, create_app, token_from_environment
    except ImportError as e:
        raise ProvenanceError("the repository server is not installed",
                              remedy="pip install 'provenance[server]'") from e
    from provenance.durability.repository import open_repository
    from provenance.verify import Verifier

    anchors = load_trust_anchors(trust_anchors)
    # The page judges uploads as `verify` does: the official lists when no anchors are given.
    lists = default_lists(anchors, None, False) if verify_page else None
    repository = open_repository(store)
    assert repository is not None  # create=True always opens one
    with repository:
        settings = ServiceSettings(token=token_from_environment(), max_upload=max_upload_mb * 1024 * 1024,
                                   require_trusted=anchors is not None)
        verifier = Verifier(anchors, lists=lists)
        page: Any = None
        if verify_page:
            from provenance.durability.recovery import Recoverer
            from provenance.page.app import PageSettings
            from provenance.page.app import create_app as create_page

            # The same verifier judges uploads; recovery looks them up in this repository.
            page = create_page(PageSettings(verifier=verifier, max_upload=settings.max_upload,
                                            recoverer=Recoverer(repository, verifier)))
        app = create_app(repository, verifier, settings, verify_page=page)
        with _listen(host, port) as listener:
            also = f"; verify page on {_url(host, listener)}/verify/" if verify_page else ""
            click.echo(f"serving {repository.location} on {_url(host, listener)} "
                       f"(submissions {'enabled' if settings.token else 'disabled'}){also}", err=True)
            _run(app, listener)


@click.command("serve")
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@host_option
@option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, env="PROVENANCE_PAGE_PORT",
        help="TCP port to listen on (0: any free port).")
@option("--open", "open_browser", is_flag=True, env="PROVENANCE_OPEN",
        help="Open the page in the default web browser once it is served.")
@max_upload_option
@trust_options
@store_option
def serve(folder: Path | None, host: str, port: int, open_browser: bool, max_upload_mb: int,
          trust_anchors: Path | None, tsa_trust_anchors: Path | None, no_default_trust: bool,
          allowed_signers: tuple[str, ...], store: str | None) -> None:
    """Serve the verify page: drop a clip in a browser, see who made it and whether AI did.

    \b
    A dropped file is streamed to a temporary file, verified as `provenance
    verify` verifies it (with recovery from the manifest repository --store for
    a stripped or re-encoded copy) and deleted. With FOLDER, the page also lists
    the media in it, each verified in the background. The page is a JSON API
    too: POST /api/verify (the file as the body, or the form field `file`)
    answers the `verify --format json` object; the OpenAPI document is at
    /openapi.json. Nothing is loaded from anywhere but this server.
    Stops on Ctrl-C. Exit 1 when the port cannot be used; 2 on usage errors.
    """
    from provenance.errors import ProvenanceError

    try:
        from provenance.page.app import PageSettings, create_app
    except ImportError as e:
        raise ProvenanceError("the verify page's server is not installed",
                              remedy="pip install 'provenance[server]'") from e
    from provenance.trust.anchors import parse_fingerprints
    from provenance.verify import Verifier

    anchors, tsa_anchors = load_trust_anchors(trust_anchors), load_trust_anchors(tsa_trust_anchors, tsa=True)
    verifier = Verifier(anchors, tsa_anchors=tsa_anchors, allowed_signers=parse_fingerprints(allowed_signers),
                        lists=default_lists(anchors, tsa_anchors, no_default_trust))
    app = create_app(PageSettings(verifier=verifier, max_upload=max_upload_mb * 1024 * 1024, store=store,
                                  gallery=folder))
    with _listen(host, port) as listener:
        url = _url(host, listener)
        if not _is_loopback(host):
            click.echo(f"provenance: warning: --host {host} serves the verify page to other machines: anyone who "
                       "can reach it may upload files to be verified here", err=True)
        click.echo(f"serving the verify page on {url}/" + (f" (gallery: {folder})" if folder else ""), err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(f"{url}/")
        _run(app, listener)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a busy port is one clear error instead of uvicorn's own exit."""
    from provenance.errors import ProvenanceError

    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        raise ProvenanceError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                              remedy="Choose another --port or --host, or stop what is using it.") from e


def _url(host: str, listener: socket.socket) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{listener.getsockname()[1]}"


def _run(app: Any, listener: socket.socket) -> None:
    """Serve `app` on `listener` until Ctrl-C."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", server_header=False)
    uvicorn.Server(config).run(sockets=[listener])
