"""Sign with a key held in an HSM or smart card, through PKCS#11 (python-pkcs11).

The key is named by an RFC 7512 URI such as
``pkcs11:token=signing;object=c2pa-signer`` and never leaves the token: the
token signs the digest of the bytes c2pa hands over, and the result is returned
in the form c2pa expects (raw r||s for ECDSA, which is also what PKCS#11's
CKM_ECDSA produces).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from provenance.errors import CredentialError, SigningError, UsageError
from provenance.keys.algorithms import hash_name
from provenance.keys.secret import SecretProvider

SCHEME = "pkcs11:"
# RFC 7512 section 2.3: path and query attributes this tool understands.
_PATH_ATTRS = {"token", "manufacturer", "serial", "model", "object", "id", "type", "slot-id", "slot-description",
               "slot-manufacturer", "library-manufacturer", "library-description", "library-version"}
_QUERY_ATTRS = {"module-path", "module-name", "pin-source", "pin-value"}


def is_uri(text: str) -> bool:
    """Whether --key names a PKCS#11 object (an RFC 7512 URI) rather than a file."""
    return text.lower().startswith(SCHEME)


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of an RFC 7512 URI, percent-decoded (`id` stays bytes)."""

    path: dict[str, str] = field(default_factory=dict)
    key_id: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        """The token label the URI names, if any."""
        return self.path.get("token")

    @property
    def object(self) -> str | None:
        """The key's label on the token, if the URI names one."""
        return self.path.get("object")

    def describe(self) -> str:
        """The URI for messages; never includes a PIN (pin-value is refused anyway)."""
        parts = [f"{k}={v}" for k, v in self.path.items()]
        if self.key_id is not None:
            parts.append(f"id={self.key_id.hex()}")
        return SCHEME + ";".join(parts)


def _attributes(text: str, separator: str, allowed: set[str], where: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for item in filter(None, text.split(separator)):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep:
            raise UsageError(f"PKCS#11 URI {where} attribute {item!r} has no value",
                             remedy="Write attributes as name=value, e.g. pkcs11:token=mytoken;object=mykey.")
        if name not in allowed and not name.startswith("x-"):
            raise UsageError(f"PKCS#11 URI has unknown {where} attribute {name!r}",
                             remedy=f"Use RFC 7512 attributes: {', '.join(sorted(allowed))}.")
        if name in out:
            raise UsageError(f"PKCS#11 URI repeats the attribute {name!r}")
        out[name] = unquote_to_bytes(value)
    return out


def parse_uri(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 PKCS#11 URI; a malformed one is a usage error (exit 2)."""
    if not is_uri(text):
        raise UsageError(f"{text!r} is not a PKCS#11 URI", remedy="Start it with pkcs11:, e.g. pkcs11:object=mykey.")
    body = text[len(SCHEME):]
    path_text, _, query_text = body.partition("?")
    raw_path = _attributes(path_text, ";", _PATH_ATTRS, "path")
    raw_query = _attributes(query_text, "&", _QUERY_ATTRS, "query")
    if "pin-value" in raw_query:
        raise UsageError(
            "the PKCS#11 URI holds a PIN (pin-value), which would leave it on the command line",
            remedy="Set PROVENANCE_PKCS11_PIN, use pin-source=file:/path/to/pin, or enter it at the prompt.",
        )
    key_id = raw_path.pop("id", None)
    try:
        path = {k: v.decode("utf-8") for k, v in raw_path.items()}
        query = {k: v.decode("utf-8") for k, v in raw_query.items()}
    except UnicodeDecodeError as e:
        raise UsageError("PKCS#11 URI attribute is not valid UTF-8") from e
    if path.get("type", "private") != "private":
        raise UsageError(f"PKCS#11 URI names a {path['type']!r} object; signing needs type=private")
    if "object" not in path and key_id is None:
        raise UsageError("PKCS#11 URI names no key", remedy="Add object=<label> and/or id=<hex bytes, %-encoded>.")
    return Pkcs11Uri(path, key_id, query)


def module_path(uri: Pkcs11Uri, option: str | None) -> str:
    """The PKCS#11 module: --pkcs11-module / PROVENANCE_PKCS11_MODULE, else the URI's module-path."""
    from_uri = uri.query.get("module-path")
    if option and from_uri and Path(option) != Path(from_uri):
        raise UsageError(f"--pkcs11-module {option} and the URI's module-path {from_uri} disagree")
    chosen = option or from_uri
    if not chosen:
        raise UsageError(
            "no PKCS#11 module given",
            remedy="Pass --pkcs11-module (or set PROVENANCE_PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so.",
        )
    if not Path(chosen).is_file():
        raise CredentialError(f"PKCS#11 module {chosen} does not exist",
                              remedy="Check --pkcs11-module; it is the vendor's .so/.dylib/.dll file.")
    return chosen


def _pin(uri: Pkcs11Uri, provider: SecretProvider | None, token_label: str) -> bytes | None:
    source = uri.query.get("pin-source")
    if source:
        if not source.startswith("file:"):
            raise UsageError(f"unsupported pin-source {source!r}", remedy="Use pin-source=file:/path/to/pin-file.")
        pin_file = Path(source.removeprefix("file:").removeprefix("//"))
        try:
            return pin_file.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            raise CredentialError(f"cannot read the PIN file {pin_file}: {e.strerror}") from e
    return provider(f"PIN for PKCS#11 token {token_label!r}") if provider is not None else None


def _token_matches(token: Any, uri: Pkcs11Uri) -> bool:
    checks: dict[str, Callable[[], str]] = {
        "token": lambda: token.label,
        "manufacturer": lambda: token.manufacturer_id,
        "model": lambda: token.model,
        "serial": lambda: token.serial.decode("ascii", "replace"),
        "slot-id": lambda: str(token.slot.slot_id),
        "slot-description": lambda: token.slot.slot_description,
        "slot-manufacturer": lambda: token.slot.manufacturer_id,
    }
    return all(checks[k]().strip() == v for k, v in uri.path.items() if k in checks)


def _find_token(lib: Any, uri: Pkcs11Uri, module: str) -> Any:
    import pkcs11

    try:
        tokens = [slot.get_token() for slot in lib.get_slots(token_present=True)]
    except pkcs11.PKCS11Error as e:
        raise CredentialError(f"PKCS#11 module {module} failed to list tokens ({type(e).__name__})") from e
    matching = [t for t in tokens if _token_matches(t, uri)]
    if not matching:
        labels = ", ".join(repr(t.label.strip()) for t in tokens) or "none"
        raise CredentialError(f"no PKCS#11 token matches {uri.describe()} (tokens present: {labels})",
                              remedy="Check token=, serial= and slot-id= in the URI (see `pkcs11-tool -L`).")
    if len(matching) > 1:
        raise UsageError(f"{len(matching)} PKCS#11 tokens match {uri.describe()}",
                         remedy="Add token=, serial= or slot-id= to the URI to pick one.")
    return matching[0]


def _object_filter(uri: Pkcs11Uri, object_class: Any) -> dict[Any, Any]:
    from pkcs11 import Attribute

    attrs: dict[Any, Any] = {Attribute.CLASS: object_class}
    if uri.object is not None:
        attrs[Attribute.LABEL] = uri.object
    if uri.key_id is not None:
        attrs[Attribute.ID] = uri.key_id
    return attrs


class Pkcs11Signer:
    """An open, logged-in session on one token and the private key it signs with."""

    def __init__(self, uri: Pkcs11Uri, module: str, pin_provider: SecretProvider | None) -> None:
        import pkcs11
        from pkcs11 import ObjectClass

        self.uri = uri
        self.description = f"PKCS#11 key {uri.describe()}"
        try:
            lib = pkcs11.lib(module)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as e:
            raise CredentialError(f"cannot load PKCS#11 module {module} ({type(e).__name__})",
                                  remedy="Check --pkcs11-module is the vendor's PKCS#11 library.") from e
        token = _find_token(lib, uri, module)
        label = token.label.strip()
        pin = _pin(uri, pin_provider, label)
        if pin is None:
            raise CredentialError(
                f"PKCS#11 token {label!r} needs a PIN",
                remedy="Set PROVENANCE_PKCS11_PIN, use pin-source=file:... in the URI, or run on a terminal.",
            )
        try:
            self.session = token.open(user_pin=pin.decode("utf-8", "surrogateescape"))
        except (pkcs11.PinIncorrect, pkcs11.PinLenRange) as e:
            raise CredentialError(f"wrong PIN for PKCS#11 token {label!r}",
                                  remedy="Check PROVENANCE_PKCS11_PIN or the pin-source file.") from e
        except pkcs11.PKCS11Error as e:
            raise CredentialError(f"cannot log in to PKCS#11 token {label!r} ({type(e).__name__})") from e
        try:
            keys = list(self.session.get_objects(_object_filter(uri, ObjectClass.PRIVATE_KEY)))
        except pkcs11.PKCS11Error as e:
            self.close()
            raise CredentialError(f"cannot search PKCS#11 token {label!r} ({type(e).__name__})") from e
        if not keys:
            self.close()
            raise CredentialError(f"no private key on token {label!r} matches {uri.describe()}",
                                  remedy="Check object= (the key's label) and id= (see `pkcs11-tool -O`).")
        if len(keys) > 1:
            self.close()
            raise UsageError(f"{len(keys)} private keys on token {label!r} match {uri.describe()}",
                             remedy="Add id= to the URI to pick one.")
        self.key = keys[0]

    def certificates_der(self) -> list[bytes]:
        """DER certificates stored on the token: those with the key's id/label first, then the rest."""
        from pkcs11 import Attribute, ObjectClass

        mine = list(self.session.get_objects(_object_filter(self.uri, ObjectClass.CERTIFICATE)))
        every = list(self.session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
        ders = [bytes(c[Attribute.VALUE]) for c in mine]
        ders += [d for d in (bytes(c[Attribute.VALUE]) for c in every) if d not in ders]
        return ders

    def sign_for(self, alg: str) -> Callable[[bytes], bytes]:
        """A function signing c2pa's to-be-signed bytes with `alg`, in the format c2pa expects."""
        from cryptography.hazmat.primitives import hashes
        from pkcs11 import MGF, Mechanism

        from provenance.keys.pki import hash_algorithm

        if alg == "ed25519":
            return lambda data: self._sign(data, Mechanism.EDDSA, None)
        hash_alg = hash_algorithm(alg)

        def digest(data: bytes) -> bytes:
            h = hashes.Hash(hash_alg)
            h.update(data)
            return h.finalize()

        if alg.startswith("es"):
            # CKM_ECDSA over a digest made here works on every token and already yields raw r||s.
            return lambda data: self._sign(digest(data), Mechanism.ECDSA, None)
        param = (getattr(Mechanism, hash_name(alg)), getattr(MGF, hash_name(alg)), hash_alg.digest_size)
        return lambda data: self._sign(digest(data), Mechanism.RSA_PKCS_PSS, param)

    def _sign(self, data: bytes, mechanism: Any, param: Any) -> bytes:
        import pkcs11

        try:
            signature: bytes = self.key.sign(data, mechanism=mechanism, mechanism_param=param)
        except pkcs11.PKCS11Error as e:
            raise SigningError(f"{self.description} refused to sign ({type(e).__name__})",
                               remedy="Check that the token supports this algorithm for this key.") from e
        return bytes(signature)

    def close(self) -> None:
        """Close the session on the token; safe to call twice."""
        session = getattr(self, "session", None)
        if session is not None:
            # Closing an already-dead session must not mask the real error.
            with contextlib.suppress(Exception):
                session.close()
            self.session = None


def open_signer(key: str, module_option: str | None, pin_provider: SecretProvider | None) -> Pkcs11Signer:
    """A logged-in signer for the key a PKCS#11 URI names, through the module given or the URI's own."""
    uri = parse_uri(key)
    return Pkcs11Signer(uri, module_path(uri, module_option), pin_provider)
