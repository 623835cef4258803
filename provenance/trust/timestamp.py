"""RFC 3161 timestamps inside C2PA signatures: read the token, judge its authority.

c2pa stores the time-stamp token in the COSE_Sign1 unprotected header (`sigTst2`
for v2 claims, `sigTst` for v1) and checks that its message imprint matches the
signature. This module reads what people need from the token (the time and who
stamped it) and validates the time-stamping authority's certificate chain
against trust anchors of its own, separate from the signer anchors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provenance._formats import jumbf
from provenance._formats.cose import decode_sign1

# v2 claims carry `sigTst2` (imprint over the signature), v1 claims `sigTst`.
_HEADER_KEYS = ("sigTst2", "sigTst")
_TIME_STAMPING_OID = "1.3.6.1.5.5.7.3.8"
_ANY_EKU_OID = "2.5.29.37.0"


@dataclass(frozen=True)
class TimestampToken:
    """What an RFC 3161 time-stamp token says: when, by whom, and the authority's certificates."""

    gen_time: dt.datetime  # when the authority stamped the signature (UTC)
    tsa_name: str | None  # subject of the certificate that signed the token
    certificates_der: tuple[bytes, ...]  # signer's certificate first, then the other certificates in the token
    serial_number: int
    policy: str

    def certificates(self) -> list[Any]:
        """The token's certificates, parsed, the authority's own first."""
        from cryptography import x509

        return [x509.load_der_x509_certificate(der) for der in self.certificates_der]


def token_bytes(cose_sign1: bytes) -> list[bytes]:
    """The DER time-stamp tokens (CMS ContentInfo) of a COSE_Sign1, in header order."""
    message = decode_sign1(cose_sign1)
    headers = message.unprotected if message is not None else {}
    for key in _HEADER_KEYS:
        container = headers.get(key)
        if isinstance(container, Mapping):
            entries = container.get("tstTokens")
            if isinstance(entries, (list, tuple)):
                return [e["val"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("val"), bytes)]
    return []


def parse_token(der: bytes) -> TimestampToken:
    """Read genTime and the authority's certificates from a token; ValueError if malformed."""
    from asn1crypto import tsp
    from cryptography import x509

    try:
        info = _content_info(der)
        if info["content_type"].native != "signed_data":
            raise ValueError("time-stamp token is not CMS SignedData")
        signed = info["content"]
        tst = signed["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            raise ValueError("time-stamp token does not hold a TSTInfo")
        gen_time = tst["gen_time"].native
        certs = [c.chosen.dump() for c in (signed["certificates"] or []) if c.name == "certificate"]
        sid = signed["signer_infos"][0]["sid"] if len(signed["signer_infos"]) else None
        tsa_field = tst["tsa"]
        named = tsa_field.native if tsa_field.native is not None else None
        serial, policy = int(tst["serial_number"].native), str(tst["policy"].dotted)
    except ValueError:
        raise
    except Exception as e:  # asn1crypto parses lazily and raises assorted types on bad DER
        raise ValueError(f"malformed time-stamp token: {type(e).__name__}") from e

    parsed = [x509.load_der_x509_certificate(c) for c in certs]
    signer_index = _signer_index(parsed, sid)
    ordered = certs if signer_index is None else [certs[signer_index], *certs[:signer_index], *certs[signer_index + 1:]]
    name = parsed[signer_index].subject.rfc4514_string() if signer_index is not None else None
    if name is None and isinstance(named, Mapping):
        name = ", ".join(f"{k}={v}" for k, v in named.items())
    if not isinstance(gen_time, dt.datetime):
        raise ValueError("time-stamp token has no genTime")
    return TimestampToken(gen_time.astimezone(dt.timezone.utc), name, tuple(ordered), serial, policy)


def _content_info(der: bytes) -> Any:
    """The token's ContentInfo; early c2pa versions stored the whole TimeStampResp instead."""
    from asn1crypto import cms, tsp

    try:
        info = cms.ContentInfo.load(der)
        info["content_type"].native  # noqa: B018 - asn1crypto parses lazily; force it here
        return info
    except ValueError:
        return tsp.TimeStampResp.load(der)["time_stamp_token"]


def _signer_index(certs: Sequence[Any], sid: Any) -> int | None:
    """Which certificate signed the token, by the SignerInfo's issuer+serial or key identifier."""
    from cryptography import x509

    if sid is None:
        return None
    for i, cert in enumerate(certs):
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (cert.serial_number == wanted["serial_number"].native
                    and cert.issuer.public_bytes() == wanted["issuer"].dump()):
                return i
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return i
    return None


def token_of(store: bytes | None, manifest_label: str | None) -> TimestampToken | None:
    """The first readable time-stamp token on a manifest's signature, or None."""
    sig = jumbf.signature_of(store, manifest_label) if store else None
    if not sig:
        return None
    for der in token_bytes(sig):
        try:
            return parse_token(der)
        except ValueError:
            continue
    return None


def _check_tsa_eku(policy: Any, cert: Any, eku: Any) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    # RFC 3161 2.3: the TSA's certificate has exactly one, critical, EKU: timeStamping.
    if list(eku) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ValueError("the TSA certificate's extended key usage is not exactly timeStamping")


def _check_ca_eku(policy: Any, cert: Any, eku: Any) -> None:
    if eku is None:
        return
    oids = {o.dotted_string for o in eku}
    if not oids & {_TIME_STAMPING_OID, _ANY_EKU_OID}:
        raise ValueError("a CA certificate in the TSA chain restricts its use to other purposes")


def check_tsa_chain(token: TimestampToken, anchors: Sequence[Any]) -> str | None:
    """None when the token's authority chains to one of `anchors` at genTime; else the reason."""
    from cryptography import x509
    from cryptography.x509 import verification as v

    if not token.certificates_der:
        return "the time-stamp token carries no certificate for its authority"
    certs = token.certificates()
    leaf, intermediates = certs[0], certs[1:]
    if not anchors:
        return "no TSA trust anchors are configured"
    ee_policy = v.ExtensionPolicy.permit_all().require_present(
        x509.ExtendedKeyUsage, v.Criticality.CRITICAL, _check_tsa_eku)
    ca_policy = v.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, v.Criticality.AGNOSTIC, _check_ca_eku)
    verifier = (
        v.PolicyBuilder()
        .store(v.Store(list(anchors)))
        .time(token.gen_time)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except v.VerificationError as e:
        return f"the time-stamping authority {token.tsa_name or '(unnamed)'} does not chain to a TSA trust anchor ({e})"
    return None
