"""Coverage-guided fuzzing (atheris, libFuzzer) of the byte-level readers, for `make fuzz`.

    python tests/fuzz/atheris_readers.py [libFuzzer flags]

The first input byte picks the target, the rest is its input:
  0 jumbf.manifest_store_bytes (the next byte picks the container)   -> no exception at all
  1 jumbf.manifest_box / signature_of / x5chain                       -> no exception at all
  2 bmff.top_level_boxes, then bmff.plan_insert_after_ftyp            -> UnsupportedLayout only
  3 bmff.shifted_box (the next 5 bytes: header flag, delta)           -> UnsupportedLayout only
  4 bmffhash.hash_binding_of_store, then bmff_hash of a signed MP4    -> UnsupportedBinding / OSError only
  5 the policy parser on the rest as a provenance.toml                -> PolicyError only
Unlike libFuzzer's default, a finding does not stop the run: each distinct one (exception type and the
innermost provenance frame) is written to .fuzz-corpus/findings/atheris.readers/ and the run goes on.
Executions: -atheris_runs (default: this target's share of PROVENANCE_FUZZ_EXAMPLES, see harness.py).
The corpus it grows is kept in .fuzz-corpus/atheris/corpus.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import io
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: `tests.fuzz` and `provenance`

import atheris  # noqa: E402

from tests.fuzz import harness, known  # noqa: E402

with atheris.instrument_imports(include=["provenance"]):
    from provenance import media as media_mod  # noqa: E402
    from provenance._fast import bmffhash
    from provenance._fast.selfcheck_sample import SIGNED_MP4_BASE64  # noqa: E402
    from provenance._formats import (
        bmff,  # noqa: E402
        jumbf,
    )
    from provenance.check import policy  # noqa: E402
    from provenance.errors import PolicyError  # noqa: E402

TARGET = "atheris.readers"
CONTAINERS = (media_mod.MP4, media_mod.AVI, media_mod.JPEG, media_mod.PNG, media_mod.MANIFEST_STORE, media_mod.WEBM)
SAMPLE = base64.b64decode(SIGNED_MP4_BASE64)
NEW_BOX = struct.pack(">I4s", 8 + 16 + 40, b"uuid") + bmff.C2PA_UUID + bytes(40)

work = Path(tempfile.mkdtemp(prefix="provenance-atheris-"))
sample_path = work / "sample.mp4"
sample_path.write_bytes(SAMPLE)
sample_fd = os.open(sample_path, os.O_RDONLY)
sample_boxes = [bmff.OutputBox(b.type, b.offset, b.size, None, b.offset)
                for b in bmff.top_level_boxes(sample_fd, len(SAMPLE))]
scratch_fd = os.memfd_create("provenance-atheris") if hasattr(os, "memfd_create") else os.open(
    work / "scratch", os.O_RDWR | os.O_CREAT)
policy_path = work / "provenance.toml"

stats = harness.Stats()
seen: set[tuple[str, str, str]] = set()
started = time.perf_counter()


def _scratch(data: bytes) -> int:
    os.ftruncate(scratch_fd, 0)
    os.pwrite(scratch_fd, data, 0)
    return scratch_fd


def one_input(data: bytes) -> None:
    if not data:
        return
    op, rest = data[0] % 6, data[1:]
    if op == 0:
        if not rest:
            return
        store = jumbf.manifest_store_bytes(io.BytesIO(rest[1:]), len(rest) - 1, CONTAINERS[rest[0] % len(CONTAINERS)])
        assert store is None or isinstance(store, bytes)
    elif op == 1:
        jumbf.manifest_box(rest)
        sig = jumbf.signature_of(rest, None)
        assert isinstance(jumbf.x5chain(sig if sig is not None else rest), list)
    elif op == 2:
        fd = _scratch(rest)
        try:
            bmff.top_level_boxes(fd, len(rest))
            bmff.plan_insert_after_ftyp(fd, len(rest), NEW_BOX)
        except bmff.UnsupportedLayout:
            pass
    elif op == 3:
        if len(rest) < 5:
            return
        header = 16 if rest[0] & 1 else 8
        try:
            out = bmff.shifted_box(rest[5:], header, struct.unpack_from(">I", rest, 1)[0])
            assert len(out) == len(rest) - 5
        except bmff.UnsupportedLayout:
            pass
    elif op == 4:
        try:
            binding = bmffhash.hash_binding_of_store(rest)
            bmffhash.bmff_hash(sample_fd, sample_boxes, binding, read_ahead=False)
        except (bmffhash.UnsupportedBinding, OSError):
            pass
    else:
        policy_path.write_bytes(rest)
        with contextlib.suppress(PolicyError):
            policy.load_policy_file(policy_path)


def test_one_input(data: bytes) -> None:
    stats.executions += 1
    try:
        one_input(data)
    except Exception as error:
        found = known.match(error)
        if found is not None:
            stats.known[found] = stats.known.get(found, 0) + 1
            return
        frame = known.innermost_provenance_frame(error) or ("?", "?")
        key = (type(error).__name__, *frame)
        if key not in seen:
            seen.add(key)
            path = harness.record_finding(TARGET, lambda: f"atheris input (first byte {data[0] % 6}): "
                                          f"{data[:200]!r}...", data, error)
            stats.findings.append(str(path))
            print(f"\n*** new finding {key}: {path}", file=sys.stderr)


def _write_stats() -> None:
    stats.seconds = time.perf_counter() - started
    harness.STATS_BY_TARGET[TARGET] = stats
    harness.write_stats(harness.STATS / "atheris.json")
    print("\n" + "\n".join(harness.summary_lines({TARGET: {"executions": stats.executions, "seconds": stats.seconds,
                                                          "known": stats.known, "findings": stats.findings}})))


def _seed_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    store = jumbf.manifest_store_bytes(io.BytesIO(SAMPLE), len(SAMPLE), media_mod.MP4) or b""
    moov = next((SAMPLE[b.offset: b.offset + b.size] for b in sample_boxes if b.type == b"moov"), b"")
    seeds = {"store-mp4": b"\x00\x00" + SAMPLE, "jumbf": b"\x01" + store, "top-level": b"\x02" + SAMPLE,
             "shift-moov": b"\x03\x00\x00\x00\x10\x00" + moov, "hash-binding": b"\x04" + store,
             "policy": b"\x05require_credentials = true\nallowed_signers = { sha256 = [\"" + b"ab" * 32 + b"\"] }\n"}
    for name, blob in seeds.items():
        (folder / f"seed-{name}").write_bytes(blob)


def main() -> None:
    corpus = harness.CORPUS / "atheris" / "corpus"
    _seed_corpus(corpus)
    args = list(sys.argv)
    if not any(a.startswith("-atheris_runs=") for a in args):
        args.append(f"-atheris_runs={harness.examples(TARGET)}")
    for flag, value in (("-max_len", "16384"), ("-timeout", "30"), ("-rss_limit_mb", "8192"),
                        ("-artifact_prefix", str(harness.CORPUS / "atheris") + "/")):
        if not any(a.startswith(flag + "=") for a in args):
            args.append(f"{flag}={value}")
    if not any(not a.startswith("-") for a in args[1:]):
        args.append(str(corpus))
    atexit.register(_write_stats)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
