"""The manifest definition (the JSON c2pa's Builder takes) for an AI-generated clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance import __version__
from provenance.errors import UsageError
from provenance.verdict import COMPOSITE_WITH_TRAINED, TRAINED_ALGORITHMIC_MEDIA

AI_TRAINING_CHOICES = ("allowed", "notAllowed", "constrained")
# For --parent: did the edit generate the whole result, or mix AI into captured footage?
EDIT_SOURCE_TYPES = {"trained": TRAINED_ALGORITHMIC_MEDIA, "composite": COMPOSITE_WITH_TRAINED}
PARENT_INGREDIENT_LABEL = "parent"
# The C2PA specification version the manifests are written to (`claim_generator_info.specVersion`, SemVer):
# the Conformance Program's spec-2.4 rubric requires it.
SPEC_VERSION = "2.4.0"
# The CAWG training-and-data-mining assertion (CAWG 1.x), which replaced C2PA 1.x's deprecated
# c2pa.training-mining: the Conformance Program's rubric counts the old label as unsupported.
TRAINING_MINING_LABEL = "cawg.training-mining"
_TRAINING_ENTRIES = (
    "cawg.ai_generative_training",
    "cawg.ai_inference",
    "cawg.ai_training",
    "cawg.data_mining",
)


@dataclass(frozen=True)
class Disclosure:
    """What the signer states about the clip."""

    generator: str | None = None
    generator_version: str | None = None
    title: str | None = None
    ai_training: str | None = None
    # Only used with a parent: "trained" or "composite" (see EDIT_SOURCE_TYPES).
    edit_source: str = "composite"
    extra_assertions: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.ai_training is not None and self.ai_training not in AI_TRAINING_CHOICES:
            raise UsageError(
                f"--ai-training must be one of {', '.join(AI_TRAINING_CHOICES)}, not {self.ai_training!r}"
            )
        if self.edit_source not in EDIT_SOURCE_TYPES:
            raise UsageError(f"edit source must be one of {', '.join(EDIT_SOURCE_TYPES)}")


def _software_agent(d: Disclosure) -> dict[str, str] | None:
    if not d.generator:
        return None
    agent = {"name": d.generator}
    if d.generator_version:
        agent["version"] = d.generator_version
    return agent


# Spec 2.x: an invisible watermark was put into the content for a soft binding (not an editorial change).
WATERMARKED = "c2pa.watermarked"


def actions(d: Disclosure, *, has_parent: bool, watermarked: bool = False) -> list[dict[str, Any]]:
    """The c2pa.actions of a clip: created by AI, or opened from a parent and edited with AI; then, with
    `watermarked`, the watermark provenance put into its frames."""
    listed = _inception_actions(d, has_parent=has_parent)
    if watermarked:
        listed.append({"action": WATERMARKED, "softwareAgent": {"name": "provenance", "version": __version__}})
    return listed


def _inception_actions(d: Disclosure, *, has_parent: bool) -> list[dict[str, Any]]:
    agent = _software_agent(d)
    if has_parent:
        opened: dict[str, Any] = {
            "action": "c2pa.opened",
            "parameters": {"ingredientIds": [PARENT_INGREDIENT_LABEL]},
        }
        edited: dict[str, Any] = {"action": "c2pa.edited", "digitalSourceType": EDIT_SOURCE_TYPES[d.edit_source]}
        if agent:
            edited["softwareAgent"] = agent
        return [opened, edited]
    created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    if agent:
        created["softwareAgent"] = agent
    return [created]


def training_mining(choice: str) -> dict[str, Any]:
    """The CAWG training-and-data-mining assertion giving every AI use the same answer (`choice`)."""
    entry: dict[str, Any] = {"use": choice}
    if choice == "constrained":
        entry["constraint_info"] = "See the publisher's terms for permitted uses."
    return {"label": TRAINING_MINING_LABEL, "data": {"entries": {name: dict(entry) for name in _TRAINING_ENTRIES}}}


def definition(d: Disclosure, *, title: str, has_parent: bool,
               watermark: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest definition c2pa's Builder signs for a clip; `watermark`, the soft-binding assertion of a
    watermark put into its frames (the `c2pa.watermarked` action is then listed too)."""
    # `created`: the claim generator made these (created_assertions, not gathered ones); and the actions
    # listed are all there were, so no reader has to guess at missing steps.
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions.v2", "created": True,
         "data": {"actions": actions(d, has_parent=has_parent, watermarked=watermark is not None),
                  "allActionsIncluded": True}}
    ]
    if watermark is not None:
        assertions.append(watermark)
    if d.ai_training:
        assertions.append(training_mining(d.ai_training))
    assertions.extend(d.extra_assertions)
    return {
        "claim_generator_info": [{"name": "provenance", "version": __version__, "specVersion": SPEC_VERSION}],
        "title": d.title or title,
        "assertions": assertions,
    }


def parent_ingredient(title: str, mime: str) -> dict[str, Any]:
    """The ingredient entry of the clip an edit was made from."""
    return {"title": title, "format": mime, "relationship": "parentOf", "label": PARENT_INGREDIENT_LABEL}


# c2pa leaves `free` and `skip` boxes out of the BMFF hash by default, so bytes could be added to a
# signed clip without breaking its signature. Ours hash them: only the C2PA box itself, `ftyp` and
# `mfra` (whose contents change when the manifest is embedded) stay out.
SIGNING_SETTINGS: dict[str, Any] = {"builder": {"bmff_hash_exclude_free_and_skip_boxes": False}}


def signing_context(signer: Any = None, trust: dict[str, Any] | None = None) -> Any:
    """A c2pa Context for building and signing manifests (with `signer` when given).

    `trust`: c2pa's trust settings (`TrustPolicy.c2pa_settings()`), which judge an ingredient's credentials
    when it is added, so what the manifest records about a parent is what a verifier would find."""
    import c2pa

    return c2pa.Context(settings=c2pa.Settings.from_dict({**(trust or {}), **SIGNING_SETTINGS}), signer=signer)
