"""c2pa Builders made from a manifest definition: fresh ones for the fast signing path, and one for Builder.sign."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._fast.native import FastPathUnavailable
from provenance.manifest import signing_context

if TYPE_CHECKING:
    from provenance.keys.signers import SigningCredentials


@dataclass
class ManifestBuilders:
    """Fresh c2pa Builders for the same manifest, each with a signing context; `close()` releases them all.

    The embeddable calls take the signer from the builder's context, and the final
    manifest needs assertions added after the first builder sized it.
    """

    definition: dict[str, Any]
    credentials: SigningCredentials
    ingredient_archives: list[bytes]
    opened: list[Any] = field(default_factory=list)

    def new(self, late: Sequence[dict[str, Any]], hash_binding: dict[str, Any] | None = None) -> Any:
        """A builder for the manifest, its assertions in the order Builder.sign gives them: the created ones
        (`late` after the definition's), the hash binding, then the gathered ones."""
        import c2pa

        definition = dict(self.definition)
        assertions = [*self.definition.get("assertions", []), *late]
        binding = [hash_binding] if hash_binding is not None else []
        definition["assertions"] = [*(a for a in assertions if a.get("created")), *binding,
                                    *(a for a in assertions if not a.get("created"))]
        try:
            context = signing_context(self.credentials.c2pa_signer())
            self.opened.append(context)
            builder = c2pa.Builder(json.dumps(definition), context=context)
            self.opened.append(builder)
            for archive in self.ingredient_archives:
                builder.add_ingredient_from_archive(io.BytesIO(archive))
        except c2pa.C2paError as e:
            raise FastPathUnavailable(f"cannot prepare a builder: {e}") from e
        return builder

    def close(self) -> None:
        """Close every builder and context made so far, newest first."""
        for resource in reversed(self.opened):
            resource.close()
        self.opened.clear()


def builder_with(builder: Any, definition: dict[str, Any], ingredient_ids: Sequence[str],
                 extra_assertions: Sequence[dict[str, Any]], *, embedded: bool = True) -> Any:
    """A new Builder for `Builder.sign`: `builder`'s manifest plus assertions that were computed late."""
    import c2pa

    archives = [_ingredient_archive(builder, ingredient_id) for ingredient_id in ingredient_ids]
    manifest = dict(definition)
    manifest["assertions"] = [*definition.get("assertions", []), *extra_assertions]
    rebuilt = c2pa.Builder(json.dumps(manifest), context=signing_context())
    for archive in archives:
        rebuilt.add_ingredient_from_archive(io.BytesIO(archive))
    if not embedded:
        rebuilt.set_no_embed()
    return rebuilt


def _ingredient_archive(builder: Any, ingredient_id: str) -> bytes:
    """One ingredient of `builder` (its manifest, thumbnail, validation results), to add to another builder."""
    buffer = io.BytesIO()
    builder.write_ingredient_archive(ingredient_id, buffer)
    return buffer.getvalue()


def ingredient_archives(builder: Any, ingredient_ids: Sequence[str]) -> list[bytes]:
    """The ingredients `ingredient_ids` of `builder`, archived for ManifestBuilders.

    Raises FastPathUnavailable when c2pa cannot archive them.
    """
    import c2pa

    try:
        return [_ingredient_archive(builder, ingredient_id) for ingredient_id in ingredient_ids]
    except c2pa.C2paError as e:
        raise FastPathUnavailable(f"cannot carry the ingredients over: {e}") from e
