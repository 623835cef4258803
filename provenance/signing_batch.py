"""Sign many clips in parallel (`provenance sign-batch`): in local worker processes or on a Dask cluster.

A batch is a list of `SignJob`s (from a folder of clips, or a JSON-lines file). Every worker loads the
signing key itself from a `KeySource` (a path or a pkcs11: URI, secrets from its own environment):
the key never travels in a task. Each output is written atomically by `signing.sign_and_register`.

A batch is restartable: a job whose output is already there, verifies, carries this signer's manifest
with the job's title and generator, and (with the soft binding) is registered, is skipped; one whose
output verifies but was never registered (a crash between the two) is registered now; anything else is
signed again. Registration is idempotent (a manifest id already stored is kept), and is checked
before it is attempted, so no manifest is registered twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import ProvenanceError, UsageError
from provenance.manifest import Disclosure

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials
    from provenance.signing import WatermarkSettings
    from provenance.trust.policy import TrustPolicy
    from provenance.verdict import Verdict

# The fields a JOBS line may have, beside the required "input" and "output".
LINE_FIELDS = ("generator", "generator_version", "title", "ai_training", "edit_source", "parent")
SIGNED, SKIPPED, REGISTERED, FAILED = "signed", "skipped", "registered", "failed"


class JobsError(UsageError):
    """A JOBS file or folder cannot be used as given."""

    remedy = "Fix the JOBS file (one JSON object a line with \"input\" and \"output\"); see docs/scale.md."


@dataclass(frozen=True)
class KeySource:
    """Where each worker loads the signing key from: paths and names, never the key or its secrets.

    `key` is a PEM or PKCS#12 file every worker can read, or a pkcs11: URI (each worker opens its
    own session); a passphrase or PIN comes from the worker's environment variables named here.
    """

    key: str | None
    cert: str | None = None
    alg: str | None = None
    tsa_url: str | None = None
    pkcs11_module: str | None = None
    signer_command: str | None = None
    passphrase_env: str = "PROVENANCE_KEY_PASSPHRASE"
    pin_env: str = "PROVENANCE_PKCS11_PIN"

    def load(self) -> SigningCredentials:
        """The credentials, checked (one probe signature for a key that signs elsewhere)."""
        from provenance.keys import signers

        if self.signer_command:
            if self.cert is None:
                raise UsageError("--signer-command needs --cert", remedy="Pass the signer's certificate chain, PEM.")
            return signers.from_command(self.signer_command, self.cert, alg=self.alg, tsa_url=self.tsa_url)
        if not self.key:
            raise UsageError("no signing key", remedy="Pass --key (PEM, PKCS#12 or pkcs11: URI) or --signer-command.")
        return signers.load_credentials(self.key, cert=self.cert, alg=self.alg, tsa_url=self.tsa_url,
                                        pkcs11_module=self.pkcs11_module, passphrase=_from_env(self.passphrase_env),
                                        pin=_from_env(self.pin_env))

    @property
    def on_token(self) -> bool:
        """Whether the key is on a PKCS#11 token (a pkcs11: URI)."""
        return self.key is not None and self.key.lower().startswith("pkcs11:")

    def files(self) -> dict[str, str]:
        """The key and certificate files, by role: no output may overwrite them."""
        files = {"certificate": self.cert} if self.cert else {}
        if self.key and not self.on_token:
            files["key"] = self.key
        return files


def _from_env(name: str) -> Callable[[str], bytes | None]:
    def provide(what: str) -> bytes | None:
        value = os.environ.get(name)
        return value.encode() if value is not None else None

    return provide


@dataclass(frozen=True)
class SignJob:
    """One clip to sign: where from, where to, and what its manifest states."""

    input: Path  # absolute
    output: Path  # absolute
    disclosure: Disclosure = field(default_factory=Disclosure)
    parent: Path | None = None

    @property
    def title(self) -> str:
        """The title its manifest records: the disclosure's, else the input's file name (as `sign` does)."""
        return self.disclosure.title or self.input.name


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a batch shares; copied to each worker once."""

    key: KeySource
    store: str | None = None
    soft_binding: bool = True
    sidecar: bool = False
    force: bool = False  # sign again even the jobs that are done
    parent_trust: TrustPolicy | None = None
    watermark: WatermarkSettings | None = None  # mark each clip (its own random identifier) before signing it
    run: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class JobResult:
    """How one job ended: signed now, skipped (done before), registered (signed before, registered now), failed."""

    input: str
    output: str
    status: str
    manifest_id: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchReport:
    """Every job's result, in the order of the jobs."""

    results: tuple[JobResult, ...]
    seconds: float
    workers: str  # "3 local processes" or the cluster's address

    def count(self, status: str) -> int:
        """How many jobs ended with `status`."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """Whether no job failed."""
        return self.count(FAILED) == 0

    def summary(self) -> dict[str, Any]:
        """The JSON summary: counts, throughput, and each failed job's reason."""
        return {
            "jobs": len(self.results),
            **{status: self.count(status) for status in (SIGNED, SKIPPED, REGISTERED, FAILED)},
            "seconds": round(self.seconds, 3),
            "clips_per_second": round(self.count(SIGNED) / self.seconds, 3) if self.seconds else None,
            "workers": self.workers,
            "failures": [{"input": r.input, "output": r.output, "error": r.error}
                         for r in self.results if r.status == FAILED],
        }


# ---- the jobs -------------------------------------------------------------------------------------

def jobs_from_folder(folder: Path, outdir: Path, disclosure: Disclosure, parent: Path | None = None) -> list[SignJob]:
    """A job for every media file under `folder` (as `check` finds them), signed into `outdir` under the same name."""
    from provenance.check.walk import discover

    folder, outdir = Path(os.path.abspath(folder)), Path(os.path.abspath(outdir))
    parent = Path(os.path.abspath(parent)) if parent is not None else None  # workers elsewhere have another cwd
    _check_outdir(outdir)
    if outdir == folder or outdir.is_relative_to(folder):
        raise JobsError(f"-o {outdir} is inside the JOBS folder {folder}",
                        remedy="Write the signed clips to a folder outside the one being signed.")
    jobs = []
    for candidate in discover([folder], root=folder):
        if candidate.error is not None:
            raise JobsError(f"{candidate.display}: {candidate.error}")
        jobs.append(SignJob(candidate.path, outdir / candidate.display, disclosure, parent))
    for made in sorted({job.output.parent for job in jobs}):  # the JOBS folder's subfolders, mirrored under -o
        made.mkdir(parents=True, exist_ok=True)
    return jobs


def jobs_from_lines(path: Path, defaults: Disclosure, *, outdir: Path | None = None,
                    parent: Path | None = None) -> list[SignJob]:
    """The jobs of a JSON-lines file, one object a line: "input" and "output" required, and any of LINE_FIELDS.

    A field given on a line wins over the default (the command's options). A relative input or parent
    is taken from the file's folder; a relative output from `outdir` when given, else from the file's folder.
    """
    base = Path(os.path.abspath(path)).parent
    parent = Path(os.path.abspath(parent)) if parent is not None else None  # workers elsewhere have another cwd
    if outdir is not None:
        _check_outdir(Path(os.path.abspath(outdir)))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise JobsError(f"cannot read JOBS file {path}: {getattr(e, 'strerror', None) or e}") from e
    jobs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise JobsError(f"{where}: not a JSON object: {e.msg}") from None
        if not isinstance(entry, dict):
            raise JobsError(f"{where}: not a JSON object")
        unknown = sorted(set(entry) - {"input", "output", *LINE_FIELDS})
        if unknown:
            raise JobsError(f"{where}: unknown field {unknown[0]!r} (known: input, output, {', '.join(LINE_FIELDS)})")
        for name in ("input", "output"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise JobsError(f"{where}: no {name!r} (a path)")
        for name in LINE_FIELDS:
            if name in entry and not isinstance(entry[name], str):
                raise JobsError(f"{where}: {name!r} must be a string")
        given = {name: entry[name] for name in LINE_FIELDS if name in entry and name != "parent"}
        try:
            disclosure = replace(defaults, **given)
        except UsageError as e:
            raise JobsError(f"{where}: {e.message}") from None
        line_parent = base / entry["parent"] if "parent" in entry else parent
        jobs.append(SignJob(base / entry["input"], Path(os.path.abspath(outdir or base)) / entry["output"],
                            disclosure, line_parent))
    return jobs


def _check_outdir(outdir: Path) -> None:
    if not outdir.is_dir():
        raise JobsError(f"output folder {outdir} does not exist", remedy="Create it first, or choose another -o.")


def check_jobs(jobs: Sequence[SignJob]) -> None:
    """Refuse, before anything is signed, two jobs writing the same output and an output folder that is missing."""
    seen: dict[Path, SignJob] = {}
    for job in jobs:
        if job.output in seen:
            raise JobsError(f"two jobs write {job.output} ({seen[job.output].input} and {job.input})")
        seen[job.output] = job
        if not job.output.parent.is_dir():
            raise JobsError(f"folder {job.output.parent} does not exist (output of {job.input})",
                            remedy="Create it first, or fix the job's \"output\".")


# ---- on a worker ----------------------------------------------------------------------------------

# (run, thread) → the credentials that worker thread loaded for the run
_credentials: dict[tuple[str, int], SigningCredentials] = {}
_credentials_lock = threading.Lock()


def sign_jobs(settings: BatchSettings, jobs: list[SignJob]) -> list[JobResult]:
    """Runs on a worker: each job signed (or found done), its result; a failure is that job's result alone."""
    key = (settings.run, threading.get_ident())
    with _credentials_lock:
        for stale in [k for k in _credentials if k[0] != settings.run]:
            _credentials.pop(stale).close()
        if key not in _credentials:
            try:
                _credentials[key] = settings.key.load()
            except ProvenanceError as e:
                return [_failed(job, e, 0.0) for job in jobs]
        credentials = _credentials[key]
    return [_sign_job(settings, credentials, job) for job in jobs]


def _failed(job: SignJob, error: ProvenanceError, seconds: float) -> JobResult:
    return JobResult(str(job.input), str(job.output), FAILED, error=error.one_line(), seconds=seconds)


def _sign_job(settings: BatchSettings, credentials: SigningCredentials, job: SignJob) -> JobResult:
    from provenance import signing

    start = time.perf_counter()
    try:
        if not settings.force and os.path.lexists(job.output):
            done = _done(settings, credentials, job)
            if done is not None:
                return JobResult(str(job.input), str(job.output), done[1], done[0],
                                 seconds=time.perf_counter() - start)
        result, registration = signing.sign_and_register(
            job.input, job.output, credentials, job.disclosure, store=settings.store,
            soft_binding=settings.soft_binding, parent=job.parent, sidecar=settings.sidecar, force=True,
            protected=settings.key.files(), parent_trust=settings.parent_trust, watermark=settings.watermark)
    except ProvenanceError as e:
        return _failed(job, e, time.perf_counter() - start)
    manifest_id = registration.manifest_id if registration is not None else _manifest_label(result.manifest_store)
    return JobResult(str(job.input), str(job.output), SIGNED, manifest_id, seconds=time.perf_counter() - start)


def _manifest_label(store: bytes) -> str | None:
    from provenance.durability.recovery import read_store
    from provenance.verify import Verifier

    try:
        return read_store(store, Verifier(), "manifest store").verdict.manifest_label
    except ProvenanceError:
        return None


def _done(settings: BatchSettings, credentials: SigningCredentials, job: SignJob) -> tuple[str, str] | None:
    """(manifest id, SKIPPED or REGISTERED) when the output is this job's signed clip; None to sign it again."""
    from provenance.verify import Verifier

    verifier = Verifier()
    verdict = verifier.verify(job.output)
    if not _is_this_jobs(verdict, credentials, job) or verdict.manifest_label is None:
        return None
    if not settings.soft_binding:
        return verdict.manifest_label, SKIPPED
    from provenance.durability.recovery import entry_for, register
    from provenance.durability.repository import open_repository
    from provenance.trust.show import read_manifest_store

    try:
        entry = entry_for(read_manifest_store(job.output)[0], verifier)
    except ProvenanceError:  # no soft binding recorded (signed without it): not what this batch makes
        return None
    repository = open_repository(settings.store)
    assert repository is not None  # create=True always opens one
    try:
        if repository.manifest_store(entry.manifest_id) is not None:
            return entry.manifest_id, SKIPPED
        register(repository, entry.manifest_store, verifier)
        return entry.manifest_id, REGISTERED
    finally:
        repository.close()


def _is_this_jobs(verdict: Verdict, credentials: SigningCredentials, job: SignJob) -> bool:
    """Whether `verdict` is of an intact clip signed by this signer, with this job's title and generator."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from provenance.verdict import Outcome

    if verdict.own not in (Outcome.TRUSTED, Outcome.VALID) or verdict.signer is None:
        return False
    leaf = hashlib.sha256(credentials.leaf.public_bytes(Encoding.DER)).hexdigest()
    generator = verdict.generator.name if verdict.generator is not None else None
    return (verdict.signer.sha256 == leaf and verdict.title == job.title
            and generator == job.disclosure.generator)


# ---- running a batch ------------------------------------------------------------------------------

def sign_batch(jobs: Sequence[SignJob], settings: BatchSettings, *, jobs_at_once: int | None = None,
               cluster: str | None = None, on_result: Callable[[JobResult], None] | None = None) -> BatchReport:
    """Run every job, in `jobs_at_once` local processes (default: one per core) or on the Dask `cluster`.

    The key is loaded here once first, so a bad key or passphrase fails before any worker starts.
    A job whose worker dies is run again alone; one that kills a second worker fails with that reason.
    """
    import contextlib

    from provenance.check.runner import default_jobs
    from provenance.tasks import ProcessWorkers, TaskFailure, Workers, run_tasks

    check_jobs(jobs)
    settings.key.load().close()  # fail now, in one place, rather than once per worker
    started = time.perf_counter()
    # A clip found done that was not there when the run began was signed by this run: by a worker that
    # died before it could say so. It counts as signed, not as done before.
    there_before = {i for i, job in enumerate(jobs) if os.path.lexists(job.output)}

    def crashed(job: SignJob, why: TaskFailure) -> JobResult:
        return JobResult(str(job.input), str(job.output), FAILED,
                         error=f"{job.input}: the signing worker process crashed on this clip, twice")

    results: dict[int, JobResult] = {}
    with contextlib.ExitStack() as stack:
        workers: Workers
        if cluster is not None:
            from provenance.cluster import DaskWorkers, connect

            workers = stack.enter_context(DaskWorkers(stack.enter_context(connect(cluster)), settings))
            where = cluster
        else:
            count = max(1, min(jobs_at_once or default_jobs(), len(jobs)))
            # This process has opened the token (the check above): a forked child would inherit the module's
            # state and open files, which PKCS#11 forbids using; started afresh, each worker opens its own.
            workers = stack.enter_context(ProcessWorkers(count, settings, fresh=settings.key.on_token))
            where = f"{count} local process{'es' if count != 1 else ''}"
        for index, result in run_tasks(workers, list(jobs), sign_jobs, on_failure=crashed):
            if result.status in (SKIPPED, REGISTERED) and index not in there_before:
                result = replace(result, status=SIGNED)
            results[index] = result
            if on_result is not None:
                on_result(result)
    return BatchReport(tuple(results[i] for i in range(len(jobs))), time.perf_counter() - started, where)
