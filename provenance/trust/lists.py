"""The official C2PA trust lists, in force when no trust anchors are given.

Three lists: the C2PA Trust List (CAs of conforming claim signers), the C2PA TSA Trust List
(time-stamping authorities), both as PEM and as ETSI TS 119 602 "List of Trusted Entities" (LoTE)
JSON, and the interim list the Content Credentials Verify site used until it was frozen on
2026-01-01 (root CAs and individually allowed end-entity certificates, PEM only). Copies ship in
`bundled/` (sources and licences in bundled/ATTRIBUTION.md); `provenance trust update`
(`provenance.trust.update`) fetches newer official ones into the user data folder, and the newer
of the two, by issue date, is in force.

What a verdict becomes under them is `TrustPolicy.apply` (provenance.trust.policy).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from provenance.errors import TrustConfigError, TrustListError
from provenance.trust.anchors import APP_NAME, TrustAnchors, anchor_of, certificate_index, parse_pem
from provenance.verdict import TrustEntity, TrustListInfo

if TYPE_CHECKING:
    from cryptography import x509

BUNDLED_DIR = Path(__file__).parent / "bundled"
SCHEMA_DIR = Path(__file__).parent / "schemas"
FETCHED_DIR_NAME = "trust-lists"
SIGNERS, TSA = "signers", "tsa"
# kind → (PEM file, LoTE JSON file), the names the C2PA publishes them under.
LIST_FILES = {
    SIGNERS: ("C2PA-TRUST-LIST.pem", "C2PA-TRUST-LIST.json"),
    TSA: ("C2PA-TSA-TRUST-LIST.pem", "C2PA-TSA-TRUST-LIST.json"),
}
TRUSTED_STATUS = "http://c2pa.org/conformance/trust-list/trusted"
UNTRUSTED_STATUS = "http://c2pa.org/conformance/trust-list/untrusted"
# The official lists are a few dozen kilobytes; anything near this is not one.
MAX_LIST_BYTES = 4 * 1024 * 1024
INTERIM_NAME = "interim list (legacy)"
INTERIM_FROZEN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Service:
    """One certificate a list entity is trusted for (a LoTE service)."""

    name: str
    sha256: str  # hex SHA-256 of the certificate's DER
    subject: str
    trusted: bool  # its ServiceStatus: trusted, or withdrawn (untrusted)


@dataclass(frozen=True)
class Entity:
    """A trusted entity of a list (a LoTE TrustedEntity): its name and its certificates."""

    name: str
    services: tuple[Service, ...]


@dataclass(frozen=True)
class TrustList:
    """One official list: its trusted certificates as anchors, whose they are, and its dates."""

    name: str  # the LoTE SchemeName, e.g. "C2PA Trust List"
    issued: dt.datetime  # ListIssueDateTime
    next_update: dt.datetime  # NextUpdate: the list is stale after this
    sequence: int  # LoTESequenceNumber
    source: str  # "bundled" or "fetched"
    location: Path  # the folder holding its PEM and JSON files
    anchors: TrustAnchors  # the certificates whose services are trusted
    entities: tuple[Entity, ...]
    _entity_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {s.sha256: e.name for e in self.entities for s in e.services if s.trusted}
        object.__setattr__(self, "_entity_of", names)

    def entity_of(self, chain: Sequence[x509.Certificate]) -> str | None:
        """The name of the entity whose certificate `chain` (leaf first, already validated) ends at, if any."""
        from provenance.keys.pki import fingerprint

        anchor = anchor_of(chain, self.anchors)
        return None if anchor is None else self._entity_of.get(fingerprint(anchor))

    def info(self) -> TrustListInfo:
        """What a verdict says about this list: its name, dates and where it came from."""
        return TrustListInfo(self.name, _iso(self.issued), self.source, _iso(self.next_update))

    def stale(self, now: dt.datetime | None = None) -> bool:
        """Whether the list is past its NextUpdate: a newer one should exist."""
        return self.next_update < (now or dt.datetime.now(dt.timezone.utc))


@dataclass(frozen=True)
class InterimList:
    """The frozen interim list: root CAs, and end-entity certificates allowed one by one.

    It only vouches for content a trusted timestamp shows was signed before it was frozen.
    """

    anchors: TrustAnchors
    allowed: TrustAnchors  # end-entity certificates (c2pa's `trust.allowed_list`)
    frozen: dt.datetime = INTERIM_FROZEN
    location: Path = BUNDLED_DIR / "interim"
    name: ClassVar[str] = INTERIM_NAME

    def allows(self, leaf: x509.Certificate) -> bool:
        """Whether `leaf` is one of the end-entity certificates allowed one by one."""
        from provenance.keys.pki import fingerprint

        return bool(self.allowed.count) and fingerprint(leaf) in certificate_index(self.allowed.pem)[0]

    def entity_of(self, chain: Sequence[x509.Certificate]) -> str | None:
        """The organisation of the allowed leaf or interim anchor that `chain` ends at, if any."""
        if chain and self.allows(chain[0]):
            return organisation(chain[0])
        anchor = anchor_of(chain, self.anchors)
        return None if anchor is None else organisation(anchor)

    def info(self) -> TrustListInfo:
        """The interim list as a verdict names it: frozen, never updated."""
        return TrustListInfo(self.name, _iso(self.frozen), "bundled", None)


@dataclass(frozen=True)
class TrustLists:
    """The lists in force when no trust anchors are given: signers, time-stamping authorities, and the
    interim list for content signed before its freeze."""

    signers: TrustList
    tsa: TrustList
    interim: InterimList | None = None

    def c2pa_anchors(self) -> TrustAnchors:
        """Every anchor c2pa must know to judge signers and timestamps; `TrustPolicy.apply` then decides
        which list vouches for what."""
        parts = [self.signers.anchors, self.tsa.anchors, *([self.interim.anchors] if self.interim else [])]
        return TrustAnchors("".join(a.pem.strip() + "\n" for a in parts), "the default trust lists",
                            sum(a.count for a in parts))

    def entry_of(self, chain: Sequence[x509.Certificate]) -> TrustEntity | None:
        """The entry of the C2PA Trust List, else of the interim list, that `chain` (leaf first) ends at.

        Only a lookup: c2pa validates the chain; `TrustPolicy.apply` decides what the entry vouches for."""
        for listed in (self.signers, self.interim):
            name = listed.entity_of(chain) if listed is not None else None
            if listed is not None and name is not None:
                return TrustEntity(name, listed.name)
        return None

    def of(self, kind: str) -> TrustList:
        """The official list of `kind`: SIGNERS or TSA."""
        return {SIGNERS: self.signers, TSA: self.tsa}[kind]

    def stale(self, now: dt.datetime | None = None) -> tuple[TrustList, ...]:
        """The official lists in force that are past their NextUpdate."""
        return tuple(t for t in (self.signers, self.tsa) if t.stale(now))


def organisation(cert: x509.Certificate) -> str:
    """A certificate's organisation (O), else its common name, else its whole subject."""
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        values = cert.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return cert.subject.rfc4514_string()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


# ---- reading a list ------------------------------------------------------------------------------


def parse_time(value: object, what: str) -> dt.datetime:
    """A LoTE date-time (RFC 3339 with a zone, e.g. 2026-08-05T00:11:39Z) as an aware datetime."""
    if not isinstance(value, str):
        raise TrustListError(f"{what} is not a date-time string")
    try:
        # Python 3.10's fromisoformat does not read "Z".
        moment = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise TrustListError(f"{what} {value[:40]!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise TrustListError(f"{what} {value[:40]!r} has no time zone")
    return moment.astimezone(dt.timezone.utc)


def _text(values: object) -> str:
    """The English text of a LoTE multilingual list, else its first."""
    if not isinstance(values, list) or not values or not all(isinstance(v, Mapping) for v in values):
        raise TypeError("not a multilingual text")
    chosen = next((v for v in values if v.get("lang") == "en"), values[0])
    text = chosen["value"]
    if not isinstance(text, str) or not text.strip():
        raise TypeError("empty text")
    return text.strip()


def _certificate(value: object) -> x509.Certificate:
    from cryptography import x509

    if not isinstance(value, str):
        raise TypeError("certificate is not a base64 string")
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(value.split()), validate=True))
    except (binascii.Error, ValueError) as e:
        raise TrustListError(f"a certificate does not parse ({e})") from None


def _entities(lote: Mapping[str, Any]) -> tuple[list[Entity], list[x509.Certificate]]:
    """The list's entities, and the certificates of the services that are trusted, in list order."""
    from provenance.keys.pki import fingerprint

    entities, trusted = [], []
    for entry in lote["TrustedEntitiesList"]:
        services = []
        for service in entry["TrustedEntityServices"]:
            info = service["ServiceInformation"]
            status = info["ServiceStatus"]
            if status not in (TRUSTED_STATUS, UNTRUSTED_STATUS):
                raise TrustListError(f"unknown ServiceStatus {str(status)[:80]!r}")
            for value in info["ServiceDigitalIdentity"]["X509Certificates"]:
                cert = _certificate(value["val"])
                services.append(Service(_text(info["ServiceName"]), fingerprint(cert), cert.subject.rfc4514_string(),
                                        status == TRUSTED_STATUS))
                if status == TRUSTED_STATUS:
                    trusted.append(cert)
        entities.append(Entity(_text(entry["TrustedEntityInformation"]["TEName"]), tuple(services)))
    return entities, trusted


def parse_list(pem: bytes, lote_json: bytes, *, source: str, location: Path) -> TrustList:
    """A list from its PEM and LoTE JSON files; TrustListError when either does not parse, the list has no
    trusted certificate, or the two disagree on which certificates are trusted."""
    from cryptography.hazmat.primitives import serialization

    from provenance.keys.pki import fingerprint

    for what, data in (("PEM", pem), ("JSON", lote_json)):
        if len(data) > MAX_LIST_BYTES:
            raise TrustListError(f"the {what} file is {len(data):,} bytes, over the limit of {MAX_LIST_BYTES:,}")
    try:
        document = json.loads(lote_json)
    except (ValueError, RecursionError) as e:
        raise TrustListError(f"the JSON file is not JSON ({type(e).__name__})") from None
    try:
        lote = document["LoTE"]
        scheme = lote["ListAndSchemeInformation"]
        name = _text(scheme["SchemeName"])
        issued = parse_time(scheme["ListIssueDateTime"], "ListIssueDateTime")
        next_update = parse_time(scheme["NextUpdate"], "NextUpdate")
        sequence = scheme["LoTESequenceNumber"]
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise TypeError("LoTESequenceNumber is not an integer")
        entities, trusted = _entities(lote)
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise TrustListError(f"the JSON file does not have the LoTE structure ({type(e).__name__}: {e})") from None
    if not trusted:
        raise TrustListError("the JSON file lists no trusted certificate")
    try:
        in_pem = parse_pem(pem.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise TrustListError("the PEM file holds no readable certificates") from None
    if {fingerprint(c) for c in in_pem} != {s.sha256 for e in entities for s in e.services if s.trusted}:
        raise TrustListError("the PEM and JSON files do not list the same certificates")
    anchors_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in trusted)
    return TrustList(name, issued, next_update, sequence, source, location,
                     TrustAnchors(anchors_pem, f"{name} ({location})", len(trusted)), tuple(entities))


def read_list(folder: Path, kind: str, source: str) -> TrustList:
    """The list of `kind` (SIGNERS or TSA) from its two files in `folder`."""
    pem_name, json_name = LIST_FILES[kind]
    data = []
    for name in (pem_name, json_name):
        path = folder / name
        try:
            with open(path, "rb") as f:
                data.append(f.read(MAX_LIST_BYTES + 1))
        except OSError as e:
            raise TrustListError(f"cannot read {path}: {e.strerror or e}") from e
    return parse_list(data[0], data[1], source=source, location=folder)


# ---- the lists in force --------------------------------------------------------------------------


def fetched_dir() -> Path:
    """Where `provenance trust update` keeps the lists it fetched, e.g. ~/.local/share/provenance/trust-lists."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False) / FETCHED_DIR_NAME


@functools.lru_cache(maxsize=1)
def bundled_lists() -> TrustLists:
    """The lists shipped with the package (read once per process)."""
    interim = BUNDLED_DIR / "interim"
    return TrustLists(
        read_list(BUNDLED_DIR, SIGNERS, "bundled"),
        read_list(BUNDLED_DIR, TSA, "bundled"),
        InterimList(_pem_anchors(interim / "anchors.pem"), _pem_anchors(interim / "allowed.pem")),
    )


def _pem_anchors(path: Path) -> TrustAnchors:
    pem = path.read_text(encoding="ascii")
    return TrustAnchors(pem, f"{INTERIM_NAME} ({path})", len(parse_pem(pem)))


def fetched_list(kind: str, folder: Path | None = None) -> TrustList | None:
    """The list of `kind` that `trust update` fetched, or None before the first update.

    A fetched list that no longer reads is an error, never silently replaced by the bundled one.
    """
    folder = folder or fetched_dir()
    if not any((folder / name).exists() for name in LIST_FILES[kind]):
        return None
    try:
        return read_list(folder, kind, "fetched")
    except TrustListError as e:
        raise TrustConfigError(f"the fetched trust list in {folder} cannot be used: {e.message}",
                               remedy=f"Run `provenance trust update` again, or delete {folder} to use the "
                                      "bundled lists.") from e


def newer(a: TrustList, b: TrustList | None) -> TrustList:
    """The more recent of two lists of the same kind (by issue date, then sequence number); `a` on a tie."""
    if b is None:
        return a
    return b if (b.issued, b.sequence) > (a.issued, a.sequence) else a


def lists_in_force(folder: Path | None = None) -> TrustLists:
    """The newer of the bundled and the fetched list of each kind, with the bundled interim list."""
    bundled = bundled_lists()
    signers, tsa = (newer(bundled.of(kind), fetched_list(kind, folder)) for kind in (SIGNERS, TSA))
    return TrustLists(signers, tsa, bundled.interim)


def lists_for(anchors: TrustAnchors | None, tsa_anchors: TrustAnchors | None, *,
              enabled: bool = True) -> TrustLists | None:
    """The lists in force beside these anchors: none when any anchors are given (they replace the lists)
    or when the lists are turned off (`enabled` False, --no-default-trust)."""
    if not enabled or anchors is not None or tsa_anchors is not None:
        return None
    return lists_in_force()

