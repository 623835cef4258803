"""Sign a clip: declare it AI-generated in a C2PA manifest and write it out atomically."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance import media as media_mod
from provenance._fast.builder import builder_with
from provenance._fast.sign import BackgroundAssertions, LateAssertions, sign_embedded
from provenance._internal.atomic import atomic_files, output_error
from provenance._internal.children import Cancel
from provenance.durability.softbinding import SoftBinding
from provenance.errors import (
    MediaError,
    OutputExistsError,
    ProvenanceError,
    SigningError,
    TimestampError,
    UsageError,
    c2pa_reason,
)
from provenance.keys.signers import SigningCredentials
from provenance.manifest import PARENT_INGREDIENT_LABEL, Disclosure, definition, parent_ingredient, signing_context
from provenance.trust.policy import TrustPolicy, default_policy

if TYPE_CHECKING:
    from provenance.watermark.interface import Payload, Progress

# The name under which a parent's detached manifest store is handed to c2pa.
_PARENT_STORE = "parent-manifest-store.c2pa"


@dataclass(frozen=True)
class WatermarkSettings:
    """How `sign` marks a clip before signing it (provenance.watermark, docs/watermark.md).

    The video is re-encoded with `codec` at `crf` (None: the watermark's defaults), the audio copied.
    `payload` is the identifier the frames carry; None (the default) gives each clip a fresh random
    one (`Payload.random()`): the manifest id is only known once the clip is signed, and the clip
    must be marked before.
    """

    codec: str | None = None  # None: provenance.watermark.DEFAULT_CODEC (H.264)
    crf: int | None = None  # None: provenance.watermark.DEFAULT_CRF
    payload: Payload | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class SignResult:
    """What signing wrote: the signed clip, its detached manifest if any, and the manifest store itself."""

    output: Path
    sidecar: Path | None  # the detached manifest, when one was written
    manifest_store: bytes = b""
    media_type: str = ""
    soft_binding: SoftBinding | None = None  # the io.iscc.v0 value recorded in the manifest, if any
    watermark: Payload | None = None  # the identifier put into the frames, with `watermark`


def _stat(path: Path, *, output: bool = True) -> os.stat_result | None:
    """os.stat, or None where there is nothing (a missing file, a dangling link). An output in a
    folder that cannot be searched is an unwritable destination; an unreadable input fails later,
    when it is read, with its own message."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if not output:
            return None
        raise output_error(path, e) from e


def _check_paths(outputs: list[tuple[str, Path]], inputs: list[tuple[str, Path]], force: bool) -> None:
    """Refuse before anything is written: an output that is one of the inputs (compared as files, so
    hard links and symlinks count, whatever `force` says), one that exists without `force`, one in a
    missing folder."""
    read = [(role, path, st) for role, path in inputs if (st := _stat(path, output=False)) is not None]
    for role, output in outputs:
        st = _stat(output)
        if st is None:
            folder = _stat(output.parent)
            if folder is None or not stat.S_ISDIR(folder.st_mode):
                raise UsageError(f"folder {output.parent} does not exist",
                                 remedy="Create it first or choose another -o.")
            continue
        for input_role, path, input_st in read:
            if (st.st_dev, st.st_ino) == (input_st.st_dev, input_st.st_ino):
                raise UsageError(f"the {role} {output} is the same file as the {input_role} {path}",
                                 remedy="Write the signed clip to a new path with -o (a detached manifest goes "
                                        "beside it, as OUTPUT.c2pa).")
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{output} is a directory", remedy="Give a file name for -o.")
        if not force:
            raise OutputExistsError(f"{output} already exists")


def _c2pa_error(e: Exception, source: Path, tsa_url: str | None) -> ProvenanceError:
    """Our error for a c2pa failure while signing `source`, chosen by the type c2pa raised."""
    import c2pa

    message = c2pa_reason(e)
    lowered = message.lower()
    # c2pa reports a failed timestamp as a Signature error, like a failed key: only the words tell them apart.
    if (tsa_url and isinstance(e, c2pa.C2paError.Signature)
            and any(word in lowered for word in ("timestamp", "time stamp", "tsa", "http"))):
        return TimestampError(f"timestamp authority {tsa_url} failed: {message}")
    if isinstance(e, c2pa.C2paError.NotSupported):
        return MediaError(f"{source}: cannot be signed: {message}")
    # An asset c2pa cannot parse ("asset could not be parsed: ...") comes as Other, a type with no meaning of its own.
    if isinstance(e, c2pa.C2paError.Other) and any(
            words in lowered for words in ("could not be parsed", "unsupported", "not supported")):
        return MediaError(f"{source}: cannot be signed: {message}")
    return SigningError(f"c2pa could not sign: {message}")


def sign(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    credentials: SigningCredentials,
    disclosure: Disclosure,
    *,
    parent: str | os.PathLike[str] | None = None,
    sidecar: bool = False,
    force: bool = False,
    soft_binding: bool = False,
    protected: Mapping[str, str | os.PathLike[str]] | None = None,
    parent_trust: TrustPolicy | None = None,
    watermark: WatermarkSettings | None = None,
) -> SignResult:
    """Sign `source` into `output`; on any failure nothing is left at `output`.

    With `watermark`, a video is first re-encoded with an invisible watermark in its frames (into a
    temporary file beside `output`), and the marked clip is what is signed: its manifest lists the
    `c2pa.watermarked` action and records the identifier in a second `c2pa.soft-binding` assertion.

    With `soft_binding`, a video's ISCC Video-Code is recorded in a `c2pa.soft-binding` assertion.
    `parent_trust` judges the parent's credentials, as recorded in its ingredient (default: the trust a
    verifier uses without options, `provenance.trust.policy.default_policy()`).
    `protected` names further files the caller uses, by role ({"key": ..., "certificate": ...}): like
    the source and the parent, no output may overwrite them, whatever `force` says.
    """
    source, output = Path(source), Path(output)
    kind = media_mod.detect(source)
    if kind.kind == "manifest":
        raise MediaError(f"{source}: is a C2PA manifest store, not media")
    detached = sidecar or not kind.embeddable
    sidecar_file = media_mod.sidecar_path(output) if detached else None
    outputs = [("output", output)]
    if sidecar_file is not None:
        outputs.append(("detached manifest", sidecar_file))
    inputs = [("input", source)]
    if parent is not None:
        inputs += [("parent", Path(parent)), ("parent's detached manifest", media_mod.sidecar_path(parent))]
    inputs += [(role, Path(p)) for role, p in (protected or {}).items()]
    _check_paths(outputs, inputs, force)
    media_mod.check_structure(source, kind)
    with contextlib.ExitStack() as marking:
        mark: Payload | None = None
        signed = source
        if watermark is not None:
            signed, mark = _watermarked(source, output, kind, watermark, marking)
            kind = media_mod.detect(signed)  # the output's format now, not the source's
            if sidecar_file is None and not kind.embeddable:
                sidecar_file = media_mod.sidecar_path(output)
                _check_paths([("detached manifest", sidecar_file)], inputs, force)
            detached = sidecar_file is not None
        mark_assertion = None
        if mark is not None:
            from provenance.durability.watermark_lookup import assertion

            mark_assertion = assertion(mark)
        manifest = definition(disclosure, title=source.name, has_parent=parent is not None, watermark=mark_assertion)
        result = _sign_clip(signed, source, output, sidecar_file, credentials, manifest, kind, detached=detached,
                            parent=parent, parent_trust=parent_trust, soft_binding=soft_binding)
    return replace(result, watermark=mark)


def _watermarked(source: Path, output: Path, kind: media_mod.MediaType, settings: WatermarkSettings,
                 stack: contextlib.ExitStack) -> tuple[Path, Payload]:
    """`source` marked into a temporary folder beside `output` (removed when `stack` closes), and its payload."""
    from provenance.watermark import DEFAULT_CODEC, DEFAULT_CRF, Payload, embed
    from provenance.watermark.video import FORMATS

    if kind.kind != "video":
        raise MediaError(f"{source}: is not video, so it cannot carry a watermark in its frames",
                         remedy="Sign it without --watermark.")
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        written = f"{output.suffix} files" if output.suffix else "a file without a suffix"
        raise UsageError(f"--watermark re-encodes the clip, and cannot write {written}",
                         remedy=f"Name the output with one of {', '.join(sorted(FORMATS))}.")
    try:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".provenance-wm-", dir=output.parent)))
    except OSError as e:
        raise output_error(output, e) from e
    payload = settings.payload or Payload.random()
    result = embed(source, work / f"marked{suffix}", payload, codec=settings.codec or DEFAULT_CODEC,
                   crf=DEFAULT_CRF if settings.crf is None else settings.crf, progress=settings.progress)
    return result.output, payload


def _sign_clip(signed: Path, source: Path, output: Path, sidecar_file: Path | None, credentials: SigningCredentials,
               manifest: dict[str, Any], kind: media_mod.MediaType, *, detached: bool,
               parent: str | os.PathLike[str] | None, parent_trust: TrustPolicy | None,
               soft_binding: bool) -> SignResult:
    """Sign the clip at `signed` (`source`, or its marked copy) into `output` with `manifest`."""
    import c2pa

    soft: _SoftBindingJob | None = None
    try:
        if parent is None:
            builder = c2pa.Builder(json.dumps(manifest), context=signing_context())
        else:
            trust = (parent_trust if parent_trust is not None else default_policy()).c2pa_settings()
            builder = c2pa.Builder(json.dumps(manifest), context=signing_context(trust=trust))
            _add_parent(builder, Path(parent), trust)
        if detached:
            builder.set_no_embed()
        with atomic_files() as out, open(signed, "rb") as src:
            # Both created first, so an unwritable destination fails before any work starts.
            dst = out.open(output)
            side = out.open(sidecar_file) if sidecar_file is not None else None
            # The fingerprint (a full decode) runs while the file is copied and hashed; it joins the manifest last.
            soft = _SoftBindingJob(signed) if soft_binding and kind.kind == "video" else None
            store = _sign_into(builder, credentials, kind.mime, src, dst, embedded=not detached, definition=manifest,
                               ingredient_ids=(PARENT_INGREDIENT_LABEL,) if parent is not None else (), late=soft)
            dst.close()
            if side is not None:
                with side:
                    side.write(store)
    except c2pa.C2paError as e:
        # A key on a token or behind a command failed: its own reason beats c2pa's generic one.
        raise (credentials.callback_failure() or _c2pa_error(e, source, credentials.tsa_url)) from e
    finally:
        if soft is not None:
            soft.stop()  # failed or interrupted: ffmpeg must not decode on (a no-op once it has finished)
    return SignResult(output, sidecar_file, store, soft_binding=soft.binding if soft else None, media_type=kind.mime)


@dataclass(frozen=True)
class Registration:
    """A signed clip's manifest as kept in a manifest repository, where copies of the clip can be traced to it."""

    manifest_id: str
    location: str  # the repository: a SQLite file or a database URL


def sign_and_register(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    credentials: SigningCredentials,
    disclosure: Disclosure,
    *,
    store: str | os.PathLike[str] | None = None,
    soft_binding: bool = True,
    parent: str | os.PathLike[str] | None = None,
    sidecar: bool = False,
    force: bool = False,
    protected: Mapping[str, str | os.PathLike[str]] | None = None,
    parent_trust: TrustPolicy | None = None,
    on_signed: Callable[[SignResult], None] | None = None,
    watermark: WatermarkSettings | None = None,
) -> tuple[SignResult, Registration | None]:
    """Sign as `sign` does; with `soft_binding`, also keep the manifest of a video in the repository at `store`.

    With `watermark` (which needs `soft_binding`: a found mark is checked against the clip's fingerprint),
    the repository finds the manifest by the identifier in the frames too.

    The repository (default: the per-user one) is opened before anything is written, so an unusable
    one fails first, and no output may overwrite it. `on_signed` is called once the clip is written,
    before registering. The registration is None without `soft_binding` or for a clip that is not video.
    """
    from provenance.durability.repository import Repository, open_repository

    if watermark is not None and not soft_binding:
        raise UsageError("--watermark needs the soft binding",
                         remedy="Drop --no-soft-binding: a watermark found later is checked against the clip's "
                                "ISCC fingerprint.")
    repository: Repository | None = None
    files = dict(protected or {})
    if soft_binding:
        repository = open_repository(store)
        assert repository is not None  # create=True always opens one
        if repository.file is not None:
            files["manifest repository"] = repository.file
    try:
        result = sign(source, output, credentials, disclosure, parent=parent, sidecar=sidecar, force=force,
                      soft_binding=soft_binding, protected=files, parent_trust=parent_trust, watermark=watermark)
        if on_signed is not None:
            on_signed(result)
        if repository is None or result.soft_binding is None:
            return result, None
        from provenance.durability.recovery import register

        entry = register(repository, result.manifest_store)
        return result, Registration(entry.manifest_id, repository.location)
    finally:
        if repository is not None:
            repository.close()


class _SoftBindingJob(BackgroundAssertions):
    """A video's ISCC soft binding, computed in a thread from the moment signing starts.

    The stand-in has the largest encoding a real value can have (SoftBinding.largest: the most
    segments, every body byte 0xFF), so the manifest's size is known in advance.
    """

    def __init__(self, source: Path) -> None:
        self.binding: SoftBinding | None = None
        self._ffmpeg = Cancel()
        super().__init__(lambda: [self._compute(source).assertion()], [SoftBinding.largest().assertion()],
                         cancel=self._ffmpeg.cancel)

    def _compute(self, source: Path) -> SoftBinding:
        from provenance.durability.softbinding import compute

        self.binding = compute(source, cancel=self._ffmpeg)
        return self.binding


def _sign_into(builder: Any, credentials: SigningCredentials, mime: str, src: Any, dst: Any, *,
               embedded: bool = False, definition: dict[str, Any] | None = None,
               ingredient_ids: tuple[str, ...] = (), late: LateAssertions | None = None) -> bytes:
    if embedded and definition is not None:
        # MP4/MOV: one kernel copy plus one hash pass (provenance/_fast/sign.py); None → c2pa's own writer.
        fast = sign_embedded(builder, definition, credentials, mime, src, dst, ingredient_ids=ingredient_ids,
                             late=late)
        if fast is not None:
            return fast
    if late is not None and definition is not None:
        # c2pa's own writer needs every assertion before it starts.
        builder = builder_with(builder, definition, ingredient_ids, late.result(), embedded=embedded)
    with credentials.c2pa_signer() as signer:
        store: bytes = builder.sign(signer, mime, src, dst)
    return store


def _add_parent(builder: Any, parent: Path, trust: dict[str, Any]) -> None:
    parent_kind = media_mod.detect(parent)
    ingredient = parent_ingredient(parent.name, parent_kind.mime)
    side = media_mod.sidecar_path(parent)
    with open(parent, "rb") as stream:
        if side.exists():
            # A parent with a detached manifest: c2pa takes its store as a resource named in `manifest_data`,
            # with the parent's validation results as c2pa reports them (an ingredient v3 must carry them).
            import c2pa

            detached = side.read_bytes()
            with c2pa.Context.from_dict(trust) as context, \
                    c2pa.Reader(parent_kind.mime, stream, detached, context=context) as reader:
                ingredient["validation_results"] = json.loads(reader.json()).get("validation_results")
            stream.seek(0)
            ingredient["manifest_data"] = {"format": media_mod.MANIFEST_STORE.mime, "identifier": _PARENT_STORE}
            builder.add_resource(_PARENT_STORE, io.BytesIO(detached))
        builder.add_ingredient(json.dumps(ingredient), parent_kind.mime, stream)
