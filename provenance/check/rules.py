"""Policy rules: small objects, each looking at one file's verdict and returning its violations.

Rules fail closed. Four rules are always on: unreadable media, broken credentials
(the file's own, or an ingredient's) and a failed trust setting of the verifier fail
every file that is not exempt (``allow_unsigned``). Rules about what intact credentials say (trust, signer, AI
disclosure, timestamp) only look at files whose credentials are intact; broken
ones have already failed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from provenance.check.policy import Policy, Scope
from provenance.codes import UNTRUSTED, explain
from provenance.errors import PolicyError
from provenance.verdict import (
    COMPOSITE_WITH_TRAINED,
    COPY,
    TRAINED_ALGORITHMIC_MEDIA,
    Claimant,
    Outcome,
    Verdict,
    source_type_label,
)

# What counts as an AI disclosure for require_ai_disclosure.
AI_DISCLOSURE_TYPES = frozenset({TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED})
INTACT = (Outcome.TRUSTED, Outcome.VALID)


@dataclass(frozen=True)
class Violation:
    """One way a file fails the policy: which rule, and why in plain words."""

    rule: str  # stable rule id, e.g. "missing-credentials"
    message: str  # plain words, for people


@dataclass(frozen=True)
class RuleInfo:
    """Rule metadata for reports (SARIF rule descriptors, JUnit failure types)."""

    id: str
    name: str  # PascalCase, SARIF's reportingDescriptor.name
    summary: str
    description: str


class Rule(Protocol):
    """A policy rule: looks at one file's verdict and names what is wrong with it."""

    info: ClassVar[RuleInfo]

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """The violations of this rule by the file at `path` (root-relative), empty when it complies."""


def _short_type(source_type: str | None) -> str:
    label = source_type_label(source_type)
    return "none" if label is None else label


def _signer(verdict: Verdict) -> str:
    return verdict.signer.subject if verdict.signer is not None else "an unknown signer"


class ReadableMedia:
    """Fails a file that could not be read as media."""

    info: ClassVar[RuleInfo] = RuleInfo(
        "unreadable-media", "UnreadableMedia",
        "The file could not be read as media.",
        "The file is corrupt, truncated, not a supported media type, or could not be opened, so its "
        "credentials cannot be checked. Such files fail the check.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """Why the file could not be read, when it could not."""
        if verdict.verdict is not Outcome.ERROR:
            return []
        reason = (verdict.error or "cannot be read as media").removeprefix(f"{verdict.path}: ")
        return [Violation(self.info.id, reason)]


class IntactCredentials:
    """Fails a file whose credentials are broken (invalid)."""

    info: ClassVar[RuleInfo] = RuleInfo(
        "invalid-credentials", "InvalidCredentials",
        "The Content Credentials are broken or the file was altered after signing.",
        "A signature, hash binding or assertion check of the C2PA manifest failed: the media or its "
        "manifest changed after signing, or the manifest was forged.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """The failure codes in plain words, when the file's own credentials are invalid."""
        if verdict.own is not Outcome.INVALID:
            return []
        codes = [c for c in verdict.failure_codes if c != UNTRUSTED] or list(verdict.failure_codes)
        reasons = "; ".join(f"{explain(c)} ({c})" for c in codes) or "the manifest failed validation"
        return [Violation(self.info.id, f"credentials are invalid: {reasons}")]


class IntactIngredients:
    """Fails a file one of whose ingredients has broken credentials, however intact its own are."""

    info: ClassVar[RuleInfo] = RuleInfo(
        "invalid-ingredient", "InvalidIngredient",
        "An ingredient's Content Credentials are broken.",
        "The file was made from an ingredient (e.g. the parent of a remix) whose credentials fail "
        "validation: a broken signature, altered media or an altered manifest, as recorded when the file "
        "was signed or found again now. The file's own credentials may be intact; it fails all the same.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """One violation per broken ingredient, in plain words with its own codes."""
        own = verdict.own_intact()
        return [Violation(self.info.id, "; ".join(filter(None, [own, i.described()]))
                          + f" ({', '.join(i.failure_codes)})")
                for i in verdict.ingredients if i.verdict is Outcome.INVALID]


@dataclass(frozen=True)
class TrustFailure:
    """Fails intact credentials that the verifier's own trust layer rejected."""

    info: ClassVar[RuleInfo] = RuleInfo(
        "trust-failure", "TrustFailure",
        "The credentials fail a trust setting (time-stamping authority anchors).",
        "The verifier's own trust layer rejected the credentials, e.g. the timestamp does not chain to the "
        "time-stamping authority anchors (tsa_trust_anchors or --tsa-trust-anchors) or is missing.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """One violation per reason the trust layer gave, for intact credentials."""
        if verdict.verdict not in INTACT:
            return []
        return [Violation(self.info.id, reason) for reason in verdict.trust_failures]


@dataclass(frozen=True)
class RequireCredentials:
    """Fails an unsigned file where the policy requires credentials."""

    scope: Scope
    info: ClassVar[RuleInfo] = RuleInfo(
        "missing-credentials", "MissingCredentials",
        "The file carries no Content Credentials.",
        "The policy's require_credentials globs (default: all media) say this file must carry a C2PA "
        "manifest, embedded or as a .c2pa sidecar.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when a file in scope carries no credentials."""
        if verdict.verdict is not Outcome.UNSIGNED or not self.scope.matches(path):
            return []
        return [Violation(self.info.id, "has no Content Credentials, and the policy requires them")]


@dataclass(frozen=True)
class RequireTrusted:
    """Fails a file whose signer does not chain to a trust anchor, where the policy requires it."""

    scope: Scope
    info: ClassVar[RuleInfo] = RuleInfo(
        "untrusted-signer", "UntrustedSigner",
        "The signer's certificate does not chain to a trust anchor.",
        "The credentials are intact, but the signing certificate (the file's own, or an ingredient's) does not "
        "chain to any of the trust anchors (policy trust_anchors or --trust-anchors).",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when intact credentials in scope have an untrusted signer."""
        if verdict.verdict is not Outcome.VALID or not self.scope.matches(path):
            return []
        if verdict.own is Outcome.TRUSTED:  # only an ingredient's signer is untrusted
            return [Violation(self.info.id, verdict.ingredient_problems() or "an ingredient's signer is not trusted")]
        if verdict.trust_failures and UNTRUSTED not in verdict.failure_codes:
            return []  # the signer is trusted; only a trust setting failed (reported by trust-failure)
        return [Violation(self.info.id, f"signed by {_signer(verdict)}, which does not chain to a trust anchor")]


@dataclass(frozen=True)
class AllowedSigners:
    """Fails intact credentials whose signer is not pinned by fingerprint or subject pattern."""

    fingerprints: frozenset[str]
    subjects: tuple[str, ...]
    info: ClassVar[RuleInfo] = RuleInfo(
        "signer-not-allowed", "SignerNotAllowed",
        "The signer is not one of the allowed signers.",
        "The policy pins signers (allowed_signers): the leaf certificate's SHA-256 fingerprint or its "
        "subject must match one of the listed values.",
    )

    def allows(self, verdict: Verdict) -> bool:
        """Whether the verdict's signer is one of the allowed signers."""
        signer = verdict.signer
        if signer is None:
            return False
        if signer.sha256 and signer.sha256.lower() in self.fingerprints:
            return True
        return any(fnmatch.fnmatchcase(signer.subject, pattern) for pattern in self.subjects)

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when intact credentials were signed by someone not allowed."""
        if verdict.verdict not in INTACT or self.allows(verdict):
            return []
        who = "an unknown signer"
        if verdict.signer is not None:
            who = verdict.signer.subject + (f" (sha256 {verdict.signer.sha256})" if verdict.signer.sha256 else "")
        return [Violation(self.info.id, f"signed by {who}, who is not in allowed_signers")]


def _trusted_recovered(verdict: Verdict) -> list[Claimant]:
    """The recovered manifests a rule may count: only trusted ones, under the verifier's trust anchors
    or the official lists.

    Anyone can register a manifest claiming any content, so an untrusted one (or any, when nobody is
    trusted) neither creates nor lifts a violation; it is shown as information only. So is a trusted
    one whose clip the file only resembles (recovered `match` "similar"): only a copy counts.
    """
    r = verdict.recovered
    if r is None or not verdict.trust_judged:
        return []
    # Recovered built by hand (no claimants) stands for itself.
    claims = r.claimants or (Claimant(r.manifest_id, r.distance, r.verdict, r.signer.subject if r.signer else None,
                                      r.signer.sha256 if r.signer else None, r.ai_generated, r.digital_source_type,
                                      r.match, r.aligned),)
    # A look-alike's credentials are another clip's: only a copy's speak for this file.
    return [c for c in claims if c.verdict is Outcome.TRUSTED and c.match == COPY]


def _by(claimant: Claimant) -> str:
    who = claimant.signer_subject or "an unknown signer"
    return who + (f" (SHA-256 {claimant.signer_sha256})" if claimant.signer_sha256 else "")


@dataclass(frozen=True)
class RequireAiDisclosure:
    """Fails a file whose credentials do not declare AI generation, where the policy requires it."""

    scope: Scope
    accept_recovered: bool = False
    info: ClassVar[RuleInfo] = RuleInfo(
        "missing-ai-disclosure", "MissingAiDisclosure",
        "The credentials do not declare the file as AI-generated.",
        "Files matched by require_ai_disclosure must carry intact credentials whose digitalSourceType is "
        "trainedAlgorithmicMedia or compositeWithTrainedAlgorithmicMedia. With "
        "accept_recovered_ai_disclosure, such a disclosure recovered from a manifest repository also "
        "counts when the recovered manifest is itself trusted under the trust anchors and the file is a "
        "copy of its clip (recovered match \"copy\"; a look-alike's never counts). It never counts as a "
        "signature.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when a file in scope does not declare AI generation."""
        if not self.scope.matches(path) or verdict.verdict in (Outcome.INVALID, Outcome.ERROR):
            return []
        if verdict.verdict in INTACT and verdict.digital_source_type in AI_DISCLOSURE_TYPES:
            return []
        if self.accept_recovered and any(c.digital_source_type in AI_DISCLOSURE_TYPES
                                         for c in _trusted_recovered(verdict)):
            return []
        if verdict.verdict is Outcome.UNSIGNED:
            message = "has no Content Credentials, so no AI disclosure, and the policy requires one"
        else:
            message = (f"the credentials do not declare AI generation (digitalSourceType: "
                       f"{_short_type(verdict.digital_source_type)}), and the policy requires it")
        return [Violation(self.info.id, message)]


@dataclass(frozen=True)
class ForbidAi:
    """Fails a file declared AI-generated, by itself or by trusted recovered credentials, where the policy
    forbids it."""

    scope: Scope
    info: ClassVar[RuleInfo] = RuleInfo(
        "forbidden-ai", "ForbiddenAi",
        "The file is declared AI-generated where the policy forbids it.",
        "Files matched by forbid_ai (e.g. camera originals) must not be declared AI-generated, neither by "
        "their own credentials nor by trusted credentials recovered for them as a copy (an untrusted recovered "
        "manifest is information only: anyone can register one; so is one whose clip the file only resembles).",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when a file in scope is declared AI-generated."""
        if not self.scope.matches(path):
            return []
        if verdict.verdict in INTACT and verdict.ai_generated:
            kind = _short_type(verdict.digital_source_type)
            return [Violation(self.info.id, f"is declared AI-generated ({kind}), which the policy forbids here")]
        claimant = next((c for c in _trusted_recovered(verdict) if c.ai_generated), None)
        if claimant is not None:
            kind = _short_type(claimant.digital_source_type)
            return [Violation(self.info.id, f"trusted recovered credentials signed by {_by(claimant)} declare it "
                                            f"AI-generated ({kind}), which the policy forbids here")]
        return []


@dataclass(frozen=True)
class RequireTimestamp:
    """Fails intact credentials without a trusted RFC 3161 timestamp, where the policy requires one."""

    scope: Scope
    info: ClassVar[RuleInfo] = RuleInfo(
        "missing-timestamp", "MissingTimestamp",
        "The signature has no trusted timestamp.",
        "Files matched by require_timestamp must be signed with an RFC 3161 timestamp, so the signature "
        "stays verifiable after the signing certificate expires.",
    )

    def check(self, path: str, verdict: Verdict) -> list[Violation]:
        """A violation when intact credentials in scope lack a trusted timestamp."""
        if verdict.verdict not in INTACT or not self.scope.matches(path):
            return []
        if verdict.timestamp is None:
            return [Violation(self.info.id, "the signature has no timestamp, and the policy requires one")]
        if verdict.timestamp.trusted is False:
            return [Violation(self.info.id, "the signature's timestamp is not trusted")]
        return []


# Every rule, in a fixed order: SARIF rule indexes and report ordering depend on it.
ALL_RULES: tuple[RuleInfo, ...] = (
    ReadableMedia.info,
    IntactCredentials.info,
    IntactIngredients.info,
    TrustFailure.info,
    RequireCredentials.info,
    RequireTrusted.info,
    AllowedSigners.info,
    RequireAiDisclosure.info,
    ForbidAi.info,
    RequireTimestamp.info,
)
RULE_ORDER = {info.id: index for index, info in enumerate(ALL_RULES)}


@dataclass(frozen=True)
class Evaluation:
    """One file's outcome under a policy: exempt, or the violations found (in rule order)."""

    exempt: bool
    violations: tuple[Violation, ...]


class RuleSet:
    """A policy compiled into rules; `evaluate` gives one file's violations."""

    def __init__(self, rules: Sequence[Rule], exempt: Scope) -> None:
        self.rules = tuple(rules)
        self.exempt = exempt

    def evaluate(self, path: str, verdict: Verdict) -> Evaluation:
        """Every rule's violations for one file, in rule order; none for an exempt file."""
        if self.exempt.matches(path):
            return Evaluation(True, ())
        found = [v for rule in self.rules for v in rule.check(path, verdict)]
        return Evaluation(False, tuple(sorted(found, key=lambda v: RULE_ORDER[v.rule])))


def compile_policy(policy: Policy, *, anchors_given: bool, lists_in_force: bool = False) -> RuleSet:
    """The rules a policy stands for; refuses combinations that could never pass honestly.

    Given anchors require trusted signers unless the policy says otherwise; the official lists
    (`lists_in_force`, no anchors given) let the policy ask for it (require_trusted) but do not by default."""
    rules: list[Rule] = [ReadableMedia(), IntactCredentials(), IntactIngredients(), TrustFailure()]
    if policy.require_credentials:
        rules.append(RequireCredentials(policy.require_credentials))
    trusted = policy.require_trusted
    if trusted is None:
        trusted = Scope.all() if anchors_given else Scope.none()
    if trusted and not anchors_given and not lists_in_force:
        raise PolicyError(
            f"{policy.source}: require_trusted needs trust anchors",
            remedy="Set trust_anchors in the policy, pass --trust-anchors, or leave out --no-default-trust.",
        )
    if trusted:
        rules.append(RequireTrusted(trusted))
    if policy.allowed_fingerprints or policy.allowed_subjects:
        rules.append(AllowedSigners(policy.allowed_fingerprints, policy.allowed_subjects))
    if policy.require_ai_disclosure:
        rules.append(RequireAiDisclosure(policy.require_ai_disclosure, policy.accept_recovered_ai_disclosure))
    if policy.forbid_ai:
        rules.append(ForbidAi(policy.forbid_ai))
    if policy.require_timestamp:
        rules.append(RequireTimestamp(policy.require_timestamp))
    return RuleSet(rules, policy.allow_unsigned)
