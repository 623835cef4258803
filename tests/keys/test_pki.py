"""`keys init`: a development PKI whose leaf satisfies the C2PA certificate profile."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.errors import OutputExistsError
from provenance.keys.pki import DOCUMENT_SIGNING, init_dev_pki
from tests.support.cli import run_cli


def test_files_and_leaf_profile(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path / "pki", org="Studio")
    root = x509.load_pem_x509_certificate(pki.root_ca.read_bytes())
    leaf, intermediate = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
    assert stat.S_IMODE(pki.signer_key.stat().st_mode) == 0o600
    assert leaf.version is x509.Version.v3
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION} <= ekus
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    inter_ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest and aki.key_identifier == inter_ski.digest
    assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)


def test_refuses_overwrite_without_force(tmp_path: Path) -> None:
    first = init_dev_pki(tmp_path)
    before = first.signer_key.read_bytes()
    with pytest.raises(OutputExistsError):
        init_dev_pki(tmp_path)
    assert first.signer_key.read_bytes() == before
    init_dev_pki(tmp_path, force=True)
    assert first.signer_key.read_bytes() != before


def test_cli_keys_init(tmp_path: Path) -> None:
    result = run_cli("keys", "init", tmp_path / "k", "--alg", "ed25519", "--org", "Studio")
    assert result.code == 0, result.stderr
    assert (tmp_path / "k" / "root-ca.pem").is_file()
    again = run_cli("keys", "init", tmp_path / "k")
    assert again.code == 2
    assert "refusing to overwrite" in again.stderr and "Traceback" not in again.stderr
