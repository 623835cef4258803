"""C2PA validation status codes: the ones provenance acts on, a plain sentence for each, and how c2pa's
report lists them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# c2pa's codes that provenance acts on.
UNTRUSTED = "signingCredential.untrusted"
TRUSTED = "signingCredential.trusted"
EXPIRED = "signingCredential.expired"
TIMESTAMP_VALIDATED = "timeStamp.validated"
TIMESTAMP_TRUSTED = "timeStamp.trusted"
BMFF_HASH_MATCH = "assertion.bmffHash.match"
BMFF_HASH_MISMATCH = "assertion.bmffHash.mismatch"
DATA_HASH_MISMATCH = "assertion.dataHash.mismatch"
BOXES_HASH_MISMATCH = "assertion.boxesHash.mismatch"
COLLECTION_HASH_MISMATCH = "assertion.collectionHash.mismatch"
# The hard binding no longer matches the content: the media changed since signing.
HARD_BINDING_MISMATCH = frozenset({
    DATA_HASH_MISMATCH,
    BMFF_HASH_MISMATCH,
    BOXES_HASH_MISMATCH,
    COLLECTION_HASH_MISMATCH,
})
ADDITIONAL_EXCLUSIONS = "assertion.bmffHash.additionalExclusionsPresent"

# Codes provenance adds where c2pa has none (its own are c2pa's words for c2pa's checks).
IDENTITY = "provenance.manifest.identity"
SEVERAL_STORES = "provenance.manifest.multipleStores"
SIDECAR_IGNORED = "provenance.sidecar.ignored"

EXPLANATIONS = {
    IDENTITY: "the manifest c2pa validated cannot be told apart from other bytes in the store, so nobody "
              "can be named as its signer",
    SEVERAL_STORES: "the file embeds more than one C2PA manifest store, so readers may each believe another",
    SIDECAR_IGNORED: "a detached .c2pa manifest lies beside the file; the manifest embedded in the file "
                     "was used and the sidecar ignored",
    ADDITIONAL_EXCLUSIONS: "the signer left parts of the file out of the hash beyond what C2PA needs; bytes "
                           "there can change without breaking the signature",
    BMFF_HASH_MISMATCH: "the video data changed after signing",
    DATA_HASH_MISMATCH: "the file's content changed after signing",
    BOXES_HASH_MISMATCH: "the file's content changed after signing",
    COLLECTION_HASH_MISMATCH: "a file in the signed collection changed after signing",
    "assertion.hashedURI.mismatch": "an assertion in the manifest was altered after signing",
    "assertion.hashedURI.missing": "an assertion the manifest refers to is missing",
    "assertion.missing": "an assertion the claim lists is missing",
    "assertion.multipleHardBindings": "the manifest has more than one hard binding, which is not allowed",
    "assertion.undeclared": "the manifest holds an assertion the claim does not list",
    "assertion.inaccessible": "an assertion could not be read",
    "assertion.notRedacted": "an assertion marked as redacted is still present",
    "assertion.selfRedacted": "the manifest tries to redact its own assertion",
    "assertion.action.ingredientMismatch": "an action refers to an ingredient that does not match",
    "assertion.action.malformed": "the list of actions is malformed",
    "assertion.action.redacted": "a required action was redacted",
    "assertion.cbor.invalid": "an assertion is not valid CBOR",
    "assertion.json.invalid": "an assertion is not valid JSON",
    "assertion.timestamp.malformed": "a timestamp assertion is malformed",
    "algorithm.unsupported": "the manifest uses a hash or signature algorithm that is not supported",
    "claim.missing": "the manifest has no claim",
    "claim.multiple": "the manifest has more than one claim",
    "claim.hardBindings.missing": "the manifest does not bind to the file's content",
    "claim.cbor.invalid": "the claim is not valid CBOR",
    "claim.malformed": "the claim is malformed",
    "claimSignature.missing": "the claim has no signature",
    "claimSignature.mismatch": "the signature does not match the signed claim (the manifest was altered or forged)",
    "claimSignature.outsideValidity": "the signature was made outside the signing certificate's validity period",
    "hashedURI.mismatch": "a reference inside the manifest does not match what it points to",
    "hashedURI.missing": "a reference inside the manifest points to nothing",
    "ingredient.hashedURI.mismatch": "an ingredient's manifest was altered",
    "ingredient.manifest.missing": "an ingredient's manifest is missing",
    "ingredient.manifest.mismatch": "an ingredient's manifest does not match its recorded hash",
    "ingredient.claimSignature.mismatch": "an ingredient's signature does not match its claim",
    "manifest.inaccessible": "the manifest could not be read",
    "manifest.multipleParents": "the manifest claims more than one parent",
    "manifest.update.invalid": "an update manifest is invalid",
    "manifest.update.wrongParents": "an update manifest has the wrong parents",
    "manifest.compressed.invalid": "a compressed manifest could not be decompressed",
    UNTRUSTED: "the signer's certificate does not chain to a trusted authority",
    "signingCredential.invalid": "the signer's certificate is malformed or not allowed for C2PA signing",
    "signingCredential.revoked": "the signer's certificate has been revoked",
    EXPIRED: "the signer's certificate had expired when the file was signed",
    "signingCredential.ocsp.revoked": "the signer's certificate has been revoked (OCSP)",
    "signingCredential.ocsp.unknown": "the certificate's revocation status is unknown",
    "timeStamp.mismatch": "the trusted timestamp does not match the signature",
    "timeStamp.untrusted": "the timestamp authority is not trusted",
    "timeStamp.outsideValidity": "the timestamp lies outside the timestamp authority's validity",
    "timeStamp.malformed": "the trusted timestamp is malformed",
    "general.error": "the verifier hit an unexpected error",
}


def explain(code: str) -> str:
    """A plain sentence for a status code; unknown codes are shown as themselves."""
    if code in EXPLANATIONS:
        return EXPLANATIONS[code]
    family = code.split(".", 1)[0]
    return f"validation check {code} failed" + (f" ({family})" if family != code else "")


# What an ingredient's failure code says about it, in words that follow "its ingredient 'X'"; most telling first.
INGREDIENT_PROBLEMS = {
    "claimSignature.mismatch": "has a broken signature",
    "claimSignature.missing": "has a broken signature",
    "ingredient.claimSignature.mismatch": "has a broken signature",
    **dict.fromkeys(sorted(HARD_BINDING_MISMATCH), "was altered after it was signed"),
    "ingredient.manifest.mismatch": "does not match the credentials recorded for it when this clip was signed",
    "ingredient.hashedURI.mismatch": "does not match the credentials recorded for it when this clip was signed",
    "ingredient.manifest.missing": "has lost the credentials recorded for it",
    "signingCredential.revoked": "was signed with a revoked certificate",
    "signingCredential.ocsp.revoked": "was signed with a revoked certificate",
    EXPIRED: "was signed with an expired certificate",
    "claimSignature.outsideValidity": "was signed outside its certificate's validity period",
    "signingCredential.invalid": "was signed with a certificate not allowed for C2PA signing",
    UNTRUSTED: "has a signer not on your trust list",
}
_INGREDIENT_FAMILIES = {
    "assertion": "has an assertion that fails validation",
    "timeStamp": "has a timestamp that fails validation",
    "signingCredential": "has a signing certificate that fails validation",
}
_RANK = {phrase: rank for rank, phrase in enumerate(dict.fromkeys(INGREDIENT_PROBLEMS.values()))}


def ingredient_problem(failure_codes: Iterable[str]) -> str:
    """An ingredient's failure codes in plain words that follow "its ingredient 'X'" ("has a broken signature").

    An untrusted signer is only named when nothing worse is wrong, as for the file's own codes."""
    found = list(failure_codes)
    found = [c for c in found if c != UNTRUSTED] or found
    phrases = {INGREDIENT_PROBLEMS.get(c) or _INGREDIENT_FAMILIES.get(c.split(".", 1)[0],
                                                                    "has credentials that fail validation")
               for c in found}
    return " and ".join(sorted(phrases, key=lambda p: (_RANK.get(p, len(_RANK)), p)))


def codes_of(entries: Iterable[Any]) -> list[str]:
    """The codes of c2pa report entries, in order; entries that are not code objects are skipped."""
    return [e["code"] for e in entries if isinstance(e, dict) and "code" in e]


def active_manifest_codes(report: dict[str, Any], kind: str) -> list[str]:
    """The codes c2pa's report lists for the active manifest under `kind` (success, informational, failure)."""
    results = report.get("validation_results") or {}
    return codes_of((results.get("activeManifest") or {}).get(kind) or [])


def without_failures(report: dict[str, Any], dropped: Callable[[Any], bool]) -> tuple[dict[str, Any], str]:
    """c2pa's report without the failure entries `dropped` picks, and the validation state c2pa gives the rest.

    c2pa's rule: a failure other than an untrusted signer makes it Invalid; a trusted signer and no
    failure left make it Trusted; anything else is Valid. The report given is not changed.
    """
    results = report.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    status = [e for e in report.get("validation_status") or [] if not dropped(e)]
    failures = [e for e in active.get("failure") or [] if not dropped(e)]
    left = {*codes_of(status), *codes_of(failures)}
    if left - {UNTRUSTED}:
        state = "Invalid"
    elif TRUSTED in codes_of(active.get("success") or []) and UNTRUSTED not in left:
        state = "Trusted"
    else:
        state = "Valid"
    patched = {**report, "validation_state": state,
               "validation_results": {**results, "activeManifest": {**active, "failure": failures}}}
    patched.pop("validation_status", None)
    if status:  # c2pa leaves the key out when there is nothing to list
        patched["validation_status"] = status
    return patched, state
