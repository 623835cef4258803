"""C2PA validation status codes in one plain sentence each."""

from __future__ import annotations

# Codes provenance adds where c2pa has none (its own are c2pa's words for c2pa's checks).
IDENTITY = "provenance.manifest.identity"
SEVERAL_STORES = "provenance.manifest.multipleStores"
SIDECAR_IGNORED = "provenance.sidecar.ignored"
ADDITIONAL_EXCLUSIONS = "assertion.bmffHash.additionalExclusionsPresent"

EXPLANATIONS = {
    IDENTITY: "the manifest c2pa validated cannot be told apart from other bytes in the store, so nobody "
              "can be named as its signer",
    SEVERAL_STORES: "the file embeds more than one C2PA manifest store, so readers may each believe another",
    SIDECAR_IGNORED: "a detached .c2pa manifest lies beside the file; the manifest embedded in the file "
                     "was used and the sidecar ignored",
    ADDITIONAL_EXCLUSIONS: "the signer left parts of the file out of the hash beyond what C2PA needs; bytes "
                           "there can change without breaking the signature",
    "assertion.bmffHash.mismatch": "the video data changed after signing",
    "assertion.dataHash.mismatch": "the file's content changed after signing",
    "assertion.boxesHash.mismatch": "the file's content changed after signing",
    "assertion.collectionHash.mismatch": "a file in the signed collection changed after signing",
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
    "signingCredential.untrusted": "the signer's certificate does not chain to a trusted authority",
    "signingCredential.invalid": "the signer's certificate is malformed or not allowed for C2PA signing",
    "signingCredential.revoked": "the signer's certificate has been revoked",
    "signingCredential.expired": "the signer's certificate had expired when the file was signed",
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
