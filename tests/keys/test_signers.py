"""Key sources for `sign`: every algorithm, encrypted PEM, PKCS#12, external signer commands, and
the security behaviour around them (secrets never shown, mismatches refused before signing)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from provenance import signing
from provenance.errors import CredentialError, SigningError, UsageError
from provenance.keys import signers
from provenance.keys.algorithms import ALGORITHMS
from provenance.keys.pki import chain_pem, init_dev_pki, private_key_pem
from provenance.manifest import Disclosure
from provenance.trust.anchors import load_anchors
from provenance.verdict import Outcome
from provenance.verify import Verifier
from tests.support.cli import CliResult, run_cli
from tests.support.clips import ROOT
from tests.support.pki import CertAuthority, SignerFiles, signer_files

PASSPHRASE = "correct horse battery staple 7"

# An external signer as docs/signing-and-keys.md describes it: bytes on stdin, signature on stdout.
SIGNER_SCRIPT = r'''
import os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

key_path, output_format = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    with open(sys.argv[3], "a") as marker:
        marker.write("called\n")
if output_format == "fail":
    print("signer: the KMS said no", file=sys.stderr)
    sys.exit(3)
key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
alg = os.environ["PROVENANCE_SIGN_ALG"]
data = sys.stdin.buffer.read()
if output_format == "garbage":
    sys.stdout.buffer.write(b"not a signature")
    sys.exit(0)
digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[2:])
if alg.startswith("es"):
    signature = key.sign(data, ec.ECDSA(digest))
    if output_format == "raw":
        size = (key.curve.key_size + 7) // 8
        r, s = utils.decode_dss_signature(signature)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
elif alg.startswith("ps"):
    signature = key.sign(data, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
else:
    signature = key.sign(data)
sys.stdout.buffer.write(signature)
'''


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return CertAuthority()


@pytest.fixture(scope="module")
def ca_root(ca: CertAuthority, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write_root(tmp_path_factory.mktemp("ca") / "root.pem")


@pytest.fixture(scope="module")
def keys(ca: CertAuthority, tmp_path_factory: pytest.TempPathFactory) -> dict[str, SignerFiles]:
    directory = tmp_path_factory.mktemp("keys")
    return {alg: signer_files(ca, directory, alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def signer_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("signer") / "sign.py"
    script.write_text(SIGNER_SCRIPT)
    return script


def command(script: Path, key: Path, output_format: str, marker: Path | None = None) -> str:
    parts = [sys.executable, str(script), str(key), output_format] + ([str(marker)] if marker else [])
    return " ".join(f"'{p}'" for p in parts)


def assert_trusted(path: Path, anchors: Path) -> None:
    verdict = Verifier(load_anchors(anchors)).verify(path)
    assert verdict.verdict is Outcome.TRUSTED, verdict
    assert verdict.ai_generated is True


def assert_no_secrets(result: CliResult, secrets: Iterable[str]) -> None:
    output = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in output, f"secret material leaked into output: {secret[:12]}..."


def key_material(*pems: bytes) -> list[str]:
    """The base64 body lines of PEM private keys: what must never be printed."""
    lines: list[str] = []
    for data in pems:
        lines += [line for line in data.decode().splitlines() if line and not line.startswith("-----")]
    return lines


def one_line_error(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("provenance: error:") and "Traceback" not in result.stderr
    return lines[0]


# --- every algorithm, in-process and through a command ---


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_with_a_key_file(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                         ca_root: Path, alg: str) -> None:
    files = keys[alg]
    creds = signers.load_credentials(str(files.key_path), cert=files.chain_path, alg=alg)
    assert creds.alg == alg and creds.key_pem is not None and creds.remote is None
    out = tmp_path / f"{alg}.mp4"
    signing.sign(clip, out, creds, Disclosure(generator="Sora"))
    assert_trusted(out, ca_root)


@pytest.mark.slow
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_through_a_signer_command(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                                  ca_root: Path, signer_script: Path, alg: str) -> None:
    files = keys[alg]
    # ECDSA signers may answer in DER (as openssl and most KMS do) or raw r||s; both must work.
    output_format = "der" if alg in ("es256", "es512") else "raw"
    out = tmp_path / f"{alg}.mp4"
    result = run_cli("sign", clip, "-o", out, "--cert", files.chain_path, "--alg", alg,
                     "--signer-command", command(signer_script, files.key_path, output_format))
    assert result.code == 0, result.stderr
    assert_trusted(out, ca_root)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (`make test-deps` installs it)")
def test_openssl_as_signer_command(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles], ca_root: Path) -> None:
    """docs/signing-and-keys.md's examples: openssl signs, c2pa gets a valid signature for each algorithm family."""
    cases = {
        "es384": "openssl dgst -sha384 -sign {key}",
        "ps256": "openssl dgst -sha256 -sign {key} -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest",
        # openssl 3.0 cannot one-shot sign a pipe: a shell wrapper buffers stdin in a file first.
        "ed25519": "sh -c 'f=$(mktemp) && cat > \"$f\" && openssl pkeyutl -sign -rawin -inkey {key} -in \"$f\"; "
                   "s=$?; rm -f \"$f\"; exit $s'",
    }
    for alg, template in cases.items():
        out = tmp_path / f"{alg}.mp4"
        result = run_cli("sign", clip, "-o", out, "--cert", keys[alg].chain_path,
                         "--signer-command", template.format(key=keys[alg].key_path))
        assert result.code == 0, (alg, result.stderr)
        assert_trusted(out, ca_root)


# --- encrypted PEM and PKCS#12 ---


@pytest.fixture(scope="module")
def encrypted(ca: CertAuthority, tmp_path_factory: pytest.TempPathFactory) -> SignerFiles:
    return signer_files(ca, tmp_path_factory.mktemp("enc"), "es256", passphrase=PASSPHRASE.encode())


@pytest.mark.slow
def test_encrypted_pem_with_passphrase_from_environment(tmp_path: Path, clip: Path, encrypted: SignerFiles,
                                                        ca_root: Path) -> None:
    assert b"ENCRYPTED" in encrypted.key_path.read_bytes()
    out = tmp_path / "out.mp4"
    result = run_cli("--verbose", "sign", clip, "-o", out, "--cert", encrypted.chain_path,
                     "--key", encrypted.key_path, env={"PROVENANCE_KEY_PASSPHRASE": PASSPHRASE})
    assert result.code == 0, result.stderr
    assert_trusted(out, ca_root)
    assert_no_secrets(result, [PASSPHRASE,
                               *key_material(encrypted.key_path.read_bytes(), private_key_pem(encrypted.key))])


@pytest.mark.slow
def test_encrypted_pem_wrong_or_missing_passphrase(tmp_path: Path, clip: Path, encrypted: SignerFiles) -> None:
    out = tmp_path / "out.mp4"
    wrong = run_cli("sign", clip, "-o", out, "--cert", encrypted.chain_path, "--key", encrypted.key_path,
                    env={"PROVENANCE_KEY_PASSPHRASE": "not " + PASSPHRASE})
    assert wrong.code == 1
    assert "wrong passphrase" in one_line_error(wrong)
    # No environment variable and no terminal (stdin is a pipe here): a clear error, not a hang.
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_KEY_PASSPHRASE"}
    missing = run_cli("sign", clip, "-o", out, "--cert", encrypted.chain_path, "--key", encrypted.key_path,
                      env=env, input="")
    assert missing.code == 1
    line = one_line_error(missing)
    assert "is encrypted" in line and "PROVENANCE_KEY_PASSPHRASE" in line
    assert not out.exists()
    verbose = run_cli("--verbose", "sign", clip, "-o", out, "--cert", encrypted.chain_path, "--key",
                      encrypted.key_path, env={"PROVENANCE_KEY_PASSPHRASE": "not " + PASSPHRASE})
    assert verbose.code == 1 and "Traceback" in verbose.stderr
    assert_no_secrets(verbose, ["not " + PASSPHRASE, *key_material(encrypted.key_path.read_bytes())])


def terminals_available() -> bool:
    try:
        primary, secondary = os.openpty()
    except OSError:
        return False
    os.close(primary)
    os.close(secondary)
    return True


def run_on_terminal(args: list[object], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal and type `answer` at the prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # child: becomes the CLI
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "provenance_cli.main", *map(str, args)], env)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            os.kill(pid, 9)
            raise AssertionError(f"no progress on the terminal; output so far: {output!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        # click prints the prompt, then getpass turns echo off and prints ": ": only then type.
        if not answered and re.search(rb"Passphrase for .*: $", output):
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.skipif(not terminals_available(), reason="this system cannot open a pseudo-terminal")
def test_encrypted_pem_prompts_on_a_terminal(tmp_path: Path, clip: Path, encrypted: SignerFiles,
                                             ca_root: Path) -> None:
    out = tmp_path / "out.mp4"
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_KEY_PASSPHRASE"}
    code, output = run_on_terminal(["sign", clip, "-o", out, "--cert", encrypted.chain_path,
                                    "--key", encrypted.key_path], PASSPHRASE, env)
    assert code == 0, output
    assert f"Passphrase for key file {encrypted.key_path}" in output
    assert PASSPHRASE not in output  # not echoed
    assert_trusted(out, ca_root)


@pytest.mark.slow
@pytest.mark.parametrize("protected", [True, False])
def test_pkcs12_bundle_brings_its_chain(tmp_path: Path, clip: Path, ca: CertAuthority, ca_root: Path,
                                        protected: bool) -> None:
    files = signer_files(ca, tmp_path, "es384")
    leaf, intermediate = files.chain
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(PASSPHRASE.encode()) if protected else serialization.NoEncryption()
    )
    # The root travels in the bundle too, as exported bundles often do; it must not end up in the manifest.
    bundle = tmp_path / "signer.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", files.key, leaf, [ca.root, intermediate], encryption))
    out = tmp_path / "out.mp4"
    env = {"PROVENANCE_KEY_PASSPHRASE": PASSPHRASE} if protected else {}
    result = run_cli("sign", clip, "-o", out, "--key", bundle, env=env or None)
    assert result.code == 0, result.stderr
    verdict = Verifier(load_anchors(ca_root)).verify(out)
    assert verdict.verdict is Outcome.TRUSTED
    assert verdict.signer is not None
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in verdict.signer.chain_pem]
    assert chain == [leaf, intermediate]
    assert_no_secrets(result, [PASSPHRASE])


def test_pkcs12_wrong_passphrase(tmp_path: Path, clip: Path, ca: CertAuthority) -> None:
    files = signer_files(ca, tmp_path, "es256")
    bundle = tmp_path / "signer.pfx"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", files.key, files.chain[0], [files.chain[1]],
        serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    result = run_cli("--verbose", "sign", clip, "-o", tmp_path / "out.mp4", "--key", bundle,
                     env={"PROVENANCE_KEY_PASSPHRASE": "wrong " + PASSPHRASE})
    assert result.code == 1
    assert "wrong passphrase" in result.stderr
    assert_no_secrets(result, ["wrong " + PASSPHRASE, PASSPHRASE])


def test_pem_key_needs_cert(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles]) -> None:
    result = run_cli("sign", clip, "-o", tmp_path / "out.mp4", "--key", keys["es256"].key_path)
    assert result.code == 2
    assert "--cert is required" in one_line_error(result)


@pytest.mark.slow
def test_pem_file_with_key_and_chain_needs_no_cert(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                                   ca_root: Path) -> None:
    files = keys["ed25519"]
    combined = tmp_path / "combined.pem"
    combined.write_bytes(private_key_pem(files.key) + chain_pem(files.chain))
    out = tmp_path / "out.mp4"
    result = run_cli("sign", clip, "-o", out, "--key", combined)
    assert result.code == 0, result.stderr
    assert_trusted(out, ca_root)


# --- refused before signing ---


@pytest.mark.parametrize(("alg", "wrong"), [("es256", "es384"), ("es256", "ps256"), ("ps256", "es256"),
                                            ("ed25519", "es256"), ("es512", "ed25519")])
def test_algorithm_that_does_not_match_the_key_is_refused(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                                          signer_script: Path, alg: str, wrong: str) -> None:
    files = keys[alg]
    out = tmp_path / "out.mp4"
    with pytest.raises(CredentialError, match="does not match the key"):
        signers.load_credentials(str(files.key_path), cert=files.chain_path, alg=wrong)
    marker = tmp_path / "called"
    result = run_cli("sign", clip, "-o", out, "--cert", files.chain_path, "--alg", wrong,
                     "--signer-command", command(signer_script, files.key_path, "raw", marker))
    assert result.code == 1
    assert "does not match the key" in one_line_error(result)
    assert not marker.exists(), "the signer command ran although the algorithm was already known to be wrong"
    assert not out.exists()


def test_signer_command_with_the_wrong_key_is_refused_before_signing(
        tmp_path: Path, clip: Path, keys: dict[str, SignerFiles], ca: CertAuthority, signer_script: Path) -> None:
    other = signer_files(ca, tmp_path / "other", "es256")
    out = tmp_path / "out.mp4"
    result = run_cli("sign", clip, "-o", out, "--cert", keys["es256"].chain_path,
                     "--signer-command", command(signer_script, other.key_path, "raw"))
    assert result.code == 1
    assert "does not verify with the certificate's key" in one_line_error(result)
    assert not out.exists()


@pytest.mark.slow
def test_signer_command_failures(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                 signer_script: Path) -> None:
    files = keys["es256"]
    out = tmp_path / "out.mp4"
    failing = run_cli("sign", clip, "-o", out, "--cert", files.chain_path,
                      "--signer-command", command(signer_script, files.key_path, "fail"))
    assert failing.code == 1
    # The command's own message passes through; ours says what failed.
    assert "signer: the KMS said no" in failing.stderr
    assert "exited with status 3" in failing.stderr
    garbage = run_cli("sign", clip, "-o", out, "--cert", files.chain_path,
                      "--signer-command", command(signer_script, files.key_path, "garbage"))
    assert garbage.code == 1 and "neither raw r||s" in one_line_error(garbage)
    missing = run_cli("sign", clip, "-o", out, "--cert", files.chain_path,
                      "--signer-command", "/nonexistent/kms-sign --key 1")
    assert missing.code == 1 and "command not found" in one_line_error(missing)
    no_cert = run_cli("sign", clip, "-o", out, "--signer-command", "true")
    assert no_cert.code == 2 and "needs --cert" in one_line_error(no_cert)
    both = run_cli("sign", clip, "-o", out, "--key", files.key_path, "--cert", files.chain_path,
                   "--signer-command", "true")
    assert both.code == 2
    assert not out.exists()


def test_failure_during_signing_reports_the_signers_reason(tmp_path: Path, clip: Path,
                                                           keys: dict[str, SignerFiles]) -> None:
    """The probe passes, then the signer breaks while c2pa signs: the precise reason, nothing written."""
    files = keys["es256"]
    state = tmp_path / "count"
    script = tmp_path / "flaky.py"
    script.write_text(
        "import sys, pathlib\n"
        f"state = pathlib.Path({str(state)!r})\n"
        "n = int(state.read_text()) if state.exists() else 0\n"
        "state.write_text(str(n + 1))\n"
        "if n >= 1:\n    sys.exit(7)\n"
        f"exec(open({str(tmp_path / 'real.py')!r}).read())\n"
    )
    (tmp_path / "real.py").write_text(SIGNER_SCRIPT)
    creds = signers.from_command(f"{sys.executable} {script} {files.key_path} raw", files.chain_path)
    out = tmp_path / "out.mp4"
    with pytest.raises(SigningError, match="exited with status 7"):
        signing.sign(clip, out, creds, Disclosure())
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == []


def test_usage_errors_for_signer_command() -> None:
    with pytest.raises(UsageError):
        signers.CommandSigner("", "es256", None)
    with pytest.raises(UsageError):
        signers.CommandSigner("sign 'unterminated", "es256", None)


# --- security: secrets never shown; key files private ---


@pytest.mark.slow
def test_no_key_material_in_verbose_output(tmp_path: Path, clip: Path, keys: dict[str, SignerFiles],
                                           ca: CertAuthority) -> None:
    files = keys["ps256"]
    secrets = key_material(files.key_path.read_bytes())
    out = tmp_path / "out.mp4"
    ok = run_cli("--verbose", "sign", clip, "-o", out, "--cert", files.chain_path, "--key", files.key_path)
    assert ok.code == 0, ok.stderr
    # Failure paths: key that does not match the certificate, and a bad output folder after loading the key.
    other = signer_files(ca, tmp_path / "other", "ps256")
    mismatch = run_cli("--verbose", "sign", clip, "-o", tmp_path / "x.mp4", "--cert", other.chain_path,
                       "--key", files.key_path)
    assert mismatch.code == 1 and "does not match" in mismatch.stderr
    bad_output = run_cli("--verbose", "sign", clip, "-o", tmp_path / "missing" / "x.mp4", "--cert",
                         files.chain_path, "--key", files.key_path)
    assert bad_output.code == 2
    for result in (ok, mismatch, bad_output):
        assert_no_secrets(result, secrets)
    creds = signers.load_credentials(str(files.key_path), cert=files.chain_path)
    assert not any(s in repr(creds) for s in secrets)


def test_keys_init_writes_the_key_private_even_over_an_open_file(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    directory.mkdir()
    key = directory / "signer.key"
    key.write_text("old")
    key.chmod(0o644)
    result = run_cli("keys", "init", directory, "--force")
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in key.read_text()
    assert_no_secrets(result, key_material(key.read_bytes()))


@pytest.mark.parametrize("alg", ["es384", "es512", "ed25519"])
def test_dev_pki_of_every_key_type_is_trusted(tmp_path: Path, clip: Path, alg: str) -> None:
    """`keys init` CAs sign with a hash matching their curve (c2pa distrusts P-521 with SHA-256)."""
    pki = init_dev_pki(tmp_path / "pki", alg=alg)
    creds = signers.load_credentials(str(pki.signer_key), cert=pki.signer_chain)
    out = tmp_path / "out.mp4"
    signing.sign(clip, out, creds, Disclosure())
    assert_trusted(out, pki.root_ca)
    report = json.loads(run_cli("verify", out, "--format", "json").stdout)[0]
    assert report["signer"]["subject"].startswith("CN=Provenance Dev Signer")
