"""Fuzz the `provenance check` policy parser (TOML: provenance.toml, or pyproject.toml's [tool.provenance]).

Property: a policy file, whatever its bytes, gives a Policy or a PolicyError (the documented error,
which the CLI turns into a usage error with the file and line); and a Policy it gives serializes
(`Policy.to_json`, which every report format embeds).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.check.policy import KEYS, SIGNER_KEYS, Policy, find_policy, load_policy_file, parse_policy
from provenance.errors import PolicyError

from . import harness
from .mutations import apply, byte_ops

pytestmark = pytest.mark.slow  # a bounded fuzz run: seconds per target


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="provenance-fuzz-policy-") as name:
        yield Path(name)


# --------------------------------------------------------------------------- TOML values and documents

FINGERPRINT = "ab" * 32
_strings = st.one_of(
    st.text(max_size=16),
    st.sampled_from(["**/*.mp4", "*.mov", "!keep.mp4", "", " ", "\\", "[", "**", "/abs/*", "a/**/b", "~",
                     "~/anchors.pem", "~nosuchuser0/anchors.pem", "~root/x.pem", "anchors.pem", "../../etc/passwd",
                     "\x00", "a\x00b", "/" * 300, "x" * 5000, FINGERPRINT, FINGERPRINT.upper(), "sha256:" + FINGERPRINT,
                     ":".join([FINGERPRINT[i: i + 2] for i in range(0, 64, 2)]), "CN=Acme*", "ab" * 31, "zz" * 32]))
_scalars = st.one_of(
    _strings, st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)), st.dates(), st.times())


def toml_values() -> st.SearchStrategy[Any]:
    return st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(SIGNER_KEYS + KEYS) | st.text(max_size=6), inner,
                                          max_size=3), max_leaves=10)


def policy_values() -> st.SearchStrategy[Any]:
    """Values of the shapes the policy keys take (scopes, paths, signer tables), and anything else."""
    scope = st.booleans() | st.lists(_strings, max_size=4)
    signers = st.fixed_dictionaries({}, optional={"sha256": st.lists(_strings, max_size=3) | toml_values(),
                                                  "subjects": st.lists(_strings, max_size=3) | toml_values()})
    return st.one_of(scope, _strings, signers, signers | st.dictionaries(st.text(max_size=6), toml_values(),
                                                                         max_size=2), toml_values())


def tables() -> st.SearchStrategy[dict[str, Any]]:
    """Policy tables: some of the real keys, each with a value of its own shape or any other, maybe an
    unknown key as well."""
    scope = st.booleans() | st.lists(_strings, max_size=4)
    signers = st.fixed_dictionaries({}, optional={k: st.lists(_strings, max_size=3) for k in SIGNER_KEYS})
    own = {"trust_anchors": _strings, "tsa_trust_anchors": _strings, "accept_recovered_ai_disclosure": st.booleans(),
           "allowed_signers": signers}
    known = st.fixed_dictionaries({}, optional={key: own.get(key, scope) | policy_values() for key in KEYS})
    unknown = st.dictionaries(st.text(max_size=10), policy_values(), max_size=2)
    return st.builds(lambda a, b: {**a, **b}, known, st.just({}) | unknown)


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else json.dumps(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's (an unpaired surrogate is refused by both)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(table: dict[str, Any], header: str | None = None, tables_as_sections: bool = False) -> str:
    """TOML for `table`, under `[header]` when given; sub-tables as [sections] or inline."""
    lines = [f"[{header}]"] if header else []
    sections = []
    for key, value in table.items():
        if tables_as_sections and isinstance(value, dict):
            sections.append((key, value))
        else:
            lines.append(f"{_key(key)} = {toml_value(value)}")
    for key, value in sections:
        name = f"{header}.{_key(key)}" if header else _key(key)
        lines.append(f"[{name}]")
        lines.extend(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


def documents(header: str | None = None) -> st.SearchStrategy[str]:
    generated = st.builds(toml_document, tables(), st.just(header), st.booleans())
    return generated | st.builds(lambda text, ops: apply(text.encode(), ops).decode("utf-8", "replace"),
                                 generated, st.lists(byte_ops(256), min_size=1, max_size=3))


def _check(load: Any, describe: Any, blob: Any) -> None:
    with harness.execution(describe[0], describe[1], blob):
        try:
            policy = load()
        except PolicyError as e:
            assert e.message
            return
        assert isinstance(policy, Policy)
        json.dumps(policy.to_json())


# ----------------------------------------------------------------------------------------------- targets


def test_policy_file_text(folder: Path) -> None:
    """provenance.toml with generated TOML (mutated or not), arbitrary text, or arbitrary bytes."""
    path = folder / "provenance.toml"
    content = documents().map(str.encode) | st.text(max_size=256).map(
        lambda t: t.encode("utf-8", "surrogatepass")) | st.binary(max_size=256) | st.builds(
        lambda n: b"a = " + b"[" * n + b"]" * n, st.integers(1, 5000)) | st.builds(
        lambda n: b"a = " + b"{b = " * n + b"1" + b"}" * n, st.integers(1, 5000))

    @harness.fuzz_settings("policy.text")
    @given(data=content)
    def run(data: bytes) -> None:
        path.write_bytes(data)
        _check(lambda: load_policy_file(path), ("policy.text", lambda: repr(data)), lambda: data)

    run()


def test_policy_tables(folder: Path) -> None:
    """parse_policy on decoded tables of any shape, with the TOML text they came from (for line numbers)."""

    @harness.fuzz_settings("policy.table")
    @given(table=tables(), text_kind=st.sampled_from(["toml", "sections", "random"]), random_text=st.text(max_size=64))
    def run(table: dict[str, Any], text_kind: str, random_text: str) -> None:
        text = random_text if text_kind == "random" else toml_document(table, None, text_kind == "sections")
        _check(lambda: parse_policy(table, text=text, label="provenance.toml", base=folder),
               ("policy.table", lambda: f"table={table!r}, text={text!r}"), lambda: None)

    run()


def test_pyproject_policies(folder: Path) -> None:
    """pyproject.toml: a [tool.provenance] table (or tool/provenance of the wrong type), found by
    find_policy and loaded by load_policy_file."""
    root = folder / "tree"
    root.mkdir(exist_ok=True)
    pyproject = root / "pyproject.toml"
    content = st.one_of(
        documents("tool.provenance"),
        st.builds(lambda v: f"[tool]\nprovenance = {toml_value(v)}\n", toml_values()),
        st.builds(lambda v: f"tool = {toml_value(v)}\n", toml_values()),
        st.builds(lambda doc: "[project]\nname = \"x\"\n" + doc, documents("tool.provenance")),
    )

    @harness.fuzz_settings("policy.pyproject")
    @given(text=content)
    def run(text: str) -> None:
        pyproject.write_text(text, encoding="utf-8", errors="surrogatepass")
        _check(lambda: find_policy(root), ("policy.pyproject", lambda: repr(text)), lambda: None)
        _check(lambda: load_policy_file(pyproject), ("policy.pyproject", lambda: repr(text)), lambda: None)

    run()
