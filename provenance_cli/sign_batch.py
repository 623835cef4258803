"""`provenance sign-batch`: sign a folder of clips, or a JSON-lines list of jobs, in parallel; restartable."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from provenance.errors import UsageError

from .check import ProgressBar
from .errors import EXIT_FAILED, EXIT_OK
from .options import (
    KEY_PASSPHRASE_ENV,
    PKCS11_PIN_ENV,
    cluster_option,
    disclosure_options,
    force_option,
    jobs_option,
    load_trust_policy,
    option,
    parent_trust_options,
    progress_option,
    sidecar_option,
    signer_options,
    soft_binding_option,
    store_option,
    tsa_url_option,
    watermark_encoding_options,
    watermark_option,
    watermark_settings,
)
from .sign import secret_provider


def _exported(env_name: str, label: str) -> Callable[[str], bytes | None]:
    """A secret asked for here once (from `env_name` or a prompt), then left in the environment local worker
    processes inherit: they cannot prompt. Workers of a --cluster need the variable set where they run."""
    ask = secret_provider(env_name, label)

    def provide(what: str) -> bytes | None:
        secret: bytes | None = ask(what)
        if secret is not None:
            os.environ[env_name] = secret.decode()
        return secret

    return provide


@click.command("sign-batch")
@click.argument("jobs_path", metavar="JOBS", type=click.Path(path_type=Path, exists=True))
@option("-o", "--output", "outdir", type=click.Path(path_type=Path), env="PROVENANCE_SIGN_BATCH_OUTPUT",
        help="Folder the signed clips are written to: required with a JOBS folder (same names, same subfolders); "
             "with a JOBS file, where relative \"output\" paths start (default: the file's folder).")
@signer_options
@disclosure_options
@parent_trust_options
@tsa_url_option
@sidecar_option
@force_option("Sign again the clips already signed by an earlier run.")
@soft_binding_option
@store_option
@watermark_option
@watermark_encoding_options
@jobs_option
@cluster_option
@progress_option
def sign_batch(jobs_path: Path, outdir: Path | None, cert: Path | None, key: str | None, alg: str | None,
               pkcs11_module: str | None, signer_command: str | None, generator: str | None,
               generator_version: str | None, title: str | None, ai_training: str | None, parent: Path | None,
               edit_source: str, trust_anchors: Path | None, tsa_trust_anchors: Path | None, no_default_trust: bool,
               tsa_url: str | None, sidecar: bool, force: bool, soft_binding: bool, store: str | None,
               watermark: bool, codec: str | None, crf: int | None, jobs: int, cluster: str | None,
               progress: bool | None) -> None:
    """Sign every clip of JOBS as AI-generated, in parallel, and print a JSON summary.

    \b
    JOBS is a folder of clips (signed into -o under the same names) or a
    JSON-lines file, one job a line:
      {"input": "a.mp4", "output": "signed/a.mp4", "generator": "Sora",
       "title": "...", "generator_version": "...", "ai_training": "...",
       "edit_source": "...", "parent": "..."}
    A line's fields win over the options, which apply to every job.

    \b
    Clips are signed in --jobs local processes, or on the Dask --cluster; each
    worker loads the key itself from --key (a file it can read, or a pkcs11:
    URI: a session per worker); passphrase and PIN come from the workers'
    environment. Each output is written atomically and registered once.
    Rerun after a crash: the clips already signed are checked and skipped, the
    others signed. Exit codes: 0 every job done, 1 some job failed, 2 usage
    error (bad JOBS line, missing -o folder, unreachable scheduler).
    """
    from provenance.manifest import Disclosure
    from provenance.signing_batch import BatchSettings, KeySource, jobs_from_folder, jobs_from_lines
    from provenance.signing_batch import sign_batch as run_batch

    from .sign import signing_credentials

    defaults = Disclosure(generator=generator, generator_version=generator_version, title=title,
                          ai_training=ai_training, edit_source=edit_source)
    if jobs_path.is_dir():
        if outdir is None:
            raise UsageError("a JOBS folder needs -o OUTDIR", remedy="Give the folder to write the signed clips to.")
        batch = jobs_from_folder(jobs_path, outdir, defaults, parent)
    else:
        batch = jobs_from_lines(jobs_path, defaults, outdir=outdir, parent=parent)
    key_source = KeySource(key=key, cert=str(cert) if cert else None, alg=alg, tsa_url=tsa_url,
                           pkcs11_module=pkcs11_module, signer_command=signer_command,
                           passphrase_env=KEY_PASSPHRASE_ENV, pin_env=PKCS11_PIN_ENV)
    if key and not signer_command:  # ask for a passphrase or PIN here, once, before any worker needs it
        from provenance.keys import signers

        signers.load_credentials(key, cert=cert, alg=alg, tsa_url=tsa_url, pkcs11_module=pkcs11_module,
                                 passphrase=_exported(KEY_PASSPHRASE_ENV, "Passphrase"),
                                 pin=_exported(PKCS11_PIN_ENV, "PIN")).close()
    else:
        signing_credentials(cert=cert, key=key, signer_command=signer_command, pkcs11_module=pkcs11_module,
                            alg=alg, tsa_url=tsa_url).close()
    uses_parent = parent is not None or any(job.parent is not None for job in batch)
    settings = BatchSettings(
        key_source, store=store, soft_binding=soft_binding, sidecar=sidecar, force=force,
        watermark=watermark_settings(watermark, codec, crf),
        parent_trust=load_trust_policy(trust_anchors, tsa_trust_anchors, no_default_trust) if uses_parent else None)
    with ProgressBar(sys.stderr.isatty() if progress is None else progress) as bar:
        bar.start(len(batch), "Signing")
        report = run_batch(batch, settings, jobs_at_once=jobs or None, cluster=cluster,
                           on_result=lambda _result: bar.update(1))
    click.echo(json.dumps(report.summary(), indent=2))
    for failure in report.summary()["failures"]:
        click.echo(f"provenance: failed: {failure['error']}", err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
