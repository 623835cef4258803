"""`provenance sign-batch`: many clips signed in worker processes or on a Dask cluster, each registered once,
and a rerun after a crash (a real SIGKILL) that finishes the batch; bad input refused before anything is written."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from provenance import signing
from provenance.keys import signers
from provenance.keys.pki import DevPki
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import run_cli
from tests.support.clips import make_clip
from tests.support.server import free_port
from tests.support.softhsm import PIN, PIN_ENV, Token, softhsm_token


def _key_args(pki: DevPki) -> list[object]:
    return ["--cert", pki.signer_chain, "--key", pki.signer_key]


def _clips(folder: Path, clip: Path, count: int) -> Path:
    folder.mkdir()
    for n in range(count):
        shutil.copy(clip, folder / f"clip-{n:02d}.mp4")
    return folder


def _registered(store: Path) -> list[str]:
    with sqlite3.connect(store) as db:
        return [row[0] for row in db.execute("SELECT manifest_id FROM manifests")]


def _verdicts(folder: Path) -> dict[str, tuple[Outcome, str | None, str | None]]:
    verifier = Verifier()
    out = {}
    for path in sorted(folder.rglob("*.mp4")):
        verdict = verifier.verify(path)
        out[path.relative_to(folder).as_posix()] = (verdict.own, verdict.title, verdict.manifest_label)
    return out


@pytest.mark.slow
def test_a_folder_is_signed_registered_once_and_a_rerun_skips_it(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    jobs = _clips(tmp_path / "in", clip, 3)
    (jobs / "sub").mkdir()
    shutil.copy(clip, jobs / "sub" / "deep.mp4")
    out, store = tmp_path / "out", tmp_path / "manifests.sqlite3"
    out.mkdir()
    first = run_cli("sign-batch", jobs, "-o", out, *_key_args(pki), "--generator", "Sora", "--store", store,
                    "--jobs", "2")
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["jobs"], summary["signed"], summary["failed"]) == (4, 4, 0)
    verdicts = _verdicts(out)
    assert sorted(verdicts) == ["clip-00.mp4", "clip-01.mp4", "clip-02.mp4", "sub/deep.mp4"]
    assert {v[0] for v in verdicts.values()} == {Outcome.VALID}
    assert verdicts["sub/deep.mp4"][1] == "deep.mp4"  # the title defaults to the input's name, as in sign
    assert sorted(_registered(store)) == sorted(v[2] for v in verdicts.values())

    again = run_cli("sign-batch", jobs, "-o", out, *_key_args(pki), "--generator", "Sora", "--store", store)
    assert again.code == 0, again.stderr
    assert (json.loads(again.stdout)["skipped"], json.loads(again.stdout)["signed"]) == (4, 0)
    assert _verdicts(out) == verdicts and len(_registered(store)) == 4

    # Other options make other manifests: the outputs are no longer this batch's, so they are signed again.
    changed = run_cli("sign-batch", jobs, "-o", out, *_key_args(pki), "--generator", "Veo", "--store", store)
    assert json.loads(changed.stdout)["signed"] == 4
    assert len(set(_registered(store))) == 8


@pytest.mark.slow
def test_a_rerun_after_sigkill_finishes_the_batch_and_registers_each_manifest_once(
        tmp_path: Path, clip: Path, pki: DevPki) -> None:
    jobs = _clips(tmp_path / "in", clip, 12)
    out, store = tmp_path / "out", tmp_path / "manifests.sqlite3"
    out.mkdir()
    args = ["sign-batch", str(jobs), "-o", str(out), *map(str, _key_args(pki)), "--store", str(store),
            "--jobs", "1", "--no-progress"]
    batch = subprocess.Popen([sys.executable, "-m", "provenance_cli.main", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.mp4"))) < 3 and time.monotonic() < deadline and batch.poll() is None:
        time.sleep(0.02)
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    done_before = len(list(out.glob("*.mp4")))
    assert 3 <= done_before < 12, "the batch was not killed midway"

    # The crash window between writing a clip and registering it: a signed output the repository does not know.
    signing.sign(jobs / "clip-11.mp4", out / "clip-11.mp4", signers.from_pem_files(pki.signer_chain, pki.signer_key),
                 Disclosure(), soft_binding=True, force=True)
    (out / "clip-10.mp4").write_bytes(b"a half-written leftover of some other tool")

    rerun = run_cli(*args)
    assert rerun.code == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    # clip-11 at least is registered now (the killed run may have died in that window too, with another clip).
    assert summary["failed"] == 0 and summary["registered"] >= 1
    assert summary["signed"] + summary["skipped"] + summary["registered"] == 12
    assert summary["skipped"] + summary["registered"] >= done_before - 1  # all it had finished but clip-10
    verdicts = _verdicts(out)
    assert len(verdicts) == 12 and {v[0] for v in verdicts.values()} == {Outcome.VALID}
    registered = _registered(store)
    assert sorted(registered) == sorted(v[2] for v in verdicts.values())  # each output's manifest, once
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]


@pytest.mark.slow
def test_a_jobs_file_on_a_local_cluster(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    pytest.importorskip("distributed")
    shutil.copy(clip, tmp_path / "a.mp4")
    shutil.copy(clip, tmp_path / "b.mp4")
    (tmp_path / "signed").mkdir()
    lines = [{"input": "a.mp4", "output": "signed/a.mp4", "title": "First", "generator": "Sora"},
             {"input": "b.mp4", "output": "signed/b.mp4"}]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    result = run_cli("sign-batch", tmp_path / "jobs.jsonl", *_key_args(pki), "--generator", "Veo", "--no-soft-binding",
                     "--cluster", "local:2")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["signed"], summary["workers"]) == (2, "local:2")
    verifier = Verifier()
    a, b = verifier.verify(tmp_path / "signed" / "a.mp4"), verifier.verify(tmp_path / "signed" / "b.mp4")
    assert (a.own, a.title, a.generator and a.generator.name) == (Outcome.VALID, "First", "Sora")
    assert (b.own, b.title, b.generator and b.generator.name) == (Outcome.VALID, "b.mp4", "Veo")


@pytest.mark.parametrize(("line", "message"), [
    ('{"input": "a.mp4"}', "jobs.jsonl:2: no 'output' (a path)"),
    ('{"input": "a.mp4", "output": "x.mp4"', "jobs.jsonl:2: not a JSON object"),
    ('["a.mp4", "x.mp4"]', "jobs.jsonl:2: not a JSON object"),
    ('{"input": "a.mp4", "output": "x.mp4", "colour": "red"}', "jobs.jsonl:2: unknown field 'colour'"),
    ('{"input": "a.mp4", "output": "x.mp4", "ai_training": "maybe"}', "jobs.jsonl:2: --ai-training must be"),
    ('{"input": "a.mp4", "output": "missing/x.mp4"}', "missing does not exist"),
    ('{"input": "a.mp4", "output": "ok.mp4"}', "two jobs write"),
])
def test_a_bad_jobs_line_is_one_line_and_exit_2_with_nothing_written(tmp_path: Path, clip: Path, pki: DevPki,
                                                                     line: str, message: str) -> None:
    shutil.copy(clip, tmp_path / "a.mp4")
    (tmp_path / "jobs.jsonl").write_text('{"input": "a.mp4", "output": "ok.mp4"}\n' + line + "\n")
    before = sorted(os.listdir(tmp_path))
    result = run_cli("sign-batch", tmp_path / "jobs.jsonl", *_key_args(pki), "--no-soft-binding")
    assert result.code == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("where", ["missing", "inside"])
def test_a_bad_output_folder_is_exit_2(tmp_path: Path, clip: Path, pki: DevPki, where: str) -> None:
    jobs = _clips(tmp_path / "in", clip, 1)
    outdir = tmp_path / "nowhere" if where == "missing" else jobs / "signed"
    if where == "inside":
        outdir.mkdir()
    result = run_cli("sign-batch", jobs, "-o", outdir, *_key_args(pki))
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ("does not exist" if where == "missing" else "is inside the JOBS folder") in result.stderr
    assert sorted(p.name for p in jobs.rglob("*")) == ["clip-00.mp4", *(["signed"] if where == "inside" else [])]


@pytest.mark.slow
def test_an_unreachable_scheduler_is_exit_2_with_nothing_written(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    jobs = _clips(tmp_path / "in", clip, 1)
    (tmp_path / "out").mkdir()
    result = run_cli("sign-batch", jobs, "-o", tmp_path / "out", *_key_args(pki),
                     "--cluster", f"tcp://127.0.0.1:{free_port()}")
    assert result.code == 2 and "cannot reach the Dask scheduler" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and list((tmp_path / "out").iterdir()) == []


def _workers() -> list[int]:
    """This process's worker processes (its children but multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and b"resource_tracker" not in command:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_killed_worker_costs_no_job(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    from provenance.signing_batch import BatchSettings, KeySource, jobs_from_folder, sign_batch

    jobs = _clips(tmp_path / "in", clip, 8)
    (tmp_path / "out").mkdir()
    killed: list[int] = []

    def kill_a_worker(_result: object) -> None:
        if not killed and (workers := _workers()):
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    store = tmp_path / "manifests.sqlite3"
    report = sign_batch(jobs_from_folder(jobs, tmp_path / "out", Disclosure(generator="Sora")),
                        BatchSettings(KeySource(str(pki.signer_key), cert=str(pki.signer_chain)), store=str(store)),
                        jobs_at_once=2, on_result=kill_a_worker)
    assert killed, "no worker process was found to kill"
    # A job killed after its clip was written (or registered) is finished on its retry, and was signed by this run.
    assert report.ok and report.count("signed") == 8, report.summary()
    verdicts = _verdicts(tmp_path / "out")
    assert len(verdicts) == 8 and {v[0] for v in verdicts.values()} == {Outcome.VALID}
    assert sorted(_registered(store)) == sorted(v[2] for v in verdicts.values())


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    with softhsm_token(tmp_path_factory.mktemp("softhsm"), algorithms=("es256",)) as made:
        yield made


@pytest.mark.slow
def test_a_folder_is_signed_with_a_pkcs11_token_key_that_never_travels(tmp_path: Path, clip: Path,
                                                                       token: Token) -> None:
    from provenance.signing_batch import BatchSettings, KeySource, jobs_from_folder

    jobs = _clips(tmp_path / "in", clip, 3)
    out = tmp_path / "out"
    out.mkdir()
    uri, chain = token.uri("es256"), token.chains["es256"]
    # The PIN reaches the workers only through the environment they inherit (token.env).
    result = run_cli("sign-batch", jobs, "-o", out, "--jobs", "2", "--cert", chain, "--key", uri,
                     "--pkcs11-module", token.module, "--generator", "Sora", "--no-soft-binding", "--no-progress",
                     env=token.env)
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["jobs"], summary["signed"], summary["failed"]) == (3, 3, 0), summary
    assert summary["workers"] == "2 local processes"
    assert PIN not in result.stdout + result.stderr

    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    verifier = Verifier(load_anchors(token.ca_root))
    for name in ("clip-00.mp4", "clip-01.mp4", "clip-02.mp4"):
        verdict = verifier.verify(out / name)
        assert verdict.verdict is Outcome.TRUSTED, verdict
        assert verdict.signer is not None
        assert verdict.signer.sha256 == leaf.fingerprint(hashes.SHA256()).hex()  # the token's certificate

    # What is sent to the workers: the settings once, the jobs in tasks. The URI travels, never the PIN or a key.
    settings = BatchSettings(KeySource(uri, cert=str(chain), pkcs11_module=token.module, pin_env=PIN_ENV),
                             soft_binding=False)
    sent = pickle.dumps(settings) + pickle.dumps(jobs_from_folder(jobs, out, Disclosure()))
    assert uri.encode() in sent and PIN_ENV.encode() in sent  # the PIN's name, for the worker to look up
    assert PIN.encode() not in sent and b"PRIVATE KEY" not in sent


@pytest.mark.slow
def test_a_folder_is_watermarked_each_clip_with_its_own_id_registered_and_a_rerun_skips_it(
        tmp_path: Path, pki: DevPki) -> None:
    from provenance.durability.repository import open_repository
    from provenance.watermark import ALGORITHM_ID, detect

    jobs = tmp_path / "in"
    jobs.mkdir()
    for n, source in enumerate(("testsrc2", "testsrc")):
        make_clip(jobs / f"clip-{n}.mp4", seconds=2, source=source, size="320x180", rate=25)
    out, store = tmp_path / "out", tmp_path / "manifests.sqlite3"
    out.mkdir()
    args = ["sign-batch", jobs, "-o", out, *_key_args(pki), "--generator", "Sora", "--store", store, "--jobs", "2",
            "--watermark", "--crf", "20"]
    first = run_cli(*args)
    assert first.code == 0, first.stderr
    assert (json.loads(first.stdout)["signed"], json.loads(first.stdout)["failed"]) == (2, 0)
    verdicts = _verdicts(out)
    repository = open_repository(str(store))
    assert repository is not None
    try:
        marks = set()
        for name in ("clip-0.mp4", "clip-1.mp4"):
            found = detect(out / name)
            assert found.payload is not None, name
            marks.add(found.payload.hex)
            # The mark names exactly this clip's manifest in the repository.
            (match,) = repository.match(ALGORITHM_ID, found.payload.value, 10)
            assert match.manifest_id == verdicts[name][2]
        assert len(marks) == 2  # an identifier of its own per clip
    finally:
        repository.close()
    again = run_cli(*args)
    assert again.code == 0, again.stderr
    assert (json.loads(again.stdout)["skipped"], json.loads(again.stdout)["signed"]) == (2, 0)
    assert _verdicts(out) == verdicts


def test_codec_and_crf_without_watermark_is_a_usage_error(tmp_path: Path, clip: Path, pki: DevPki) -> None:
    jobs = _clips(tmp_path / "in", clip, 1)
    (tmp_path / "out").mkdir()
    result = run_cli("sign-batch", jobs, "-o", tmp_path / "out", *_key_args(pki), "--crf", "20")
    assert result.code == 2 and "--codec and --crf apply to --watermark only" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []
