"""The `provenance check` policy: a small TOML table, parsed strictly (unknown keys are errors).

Sources, first found wins: an explicit file (``--policy``), ``provenance.toml`` at the
root, ``[tool.provenance]`` in the root's ``pyproject.toml``; none means the default
policy (every media file must carry intact credentials).
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import PolicyError, TrustConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PROVENANCE_TOML = "provenance.toml"
PYPROJECT_TOML = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "provenance")


class Scope:
    """Which files a rule applies to: gitignore-style globs relative to the root, or every file."""

    def __init__(self, patterns: Sequence[str] = (), *, everything: bool = False) -> None:
        import pathspec

        self.patterns = tuple(patterns)
        self.everything = everything
        self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)

    @classmethod
    def all(cls) -> Scope:
        """A scope of every file."""
        return cls(everything=True)

    @classmethod
    def none(cls) -> Scope:
        """A scope of no file."""
        return cls()

    def __bool__(self) -> bool:
        return self.everything or bool(self.patterns)

    def matches(self, path: str) -> bool:
        """`path` is root-relative with forward slashes (an outside file: its absolute path)."""
        if self.everything:
            return True
        return bool(self.patterns) and self._spec.match_file(path.lstrip("/"))

    def describe(self) -> str:
        """The scope in words for reports: all media, the globs, or none."""
        if self.everything:
            return "all media"
        return ", ".join(self.patterns) if self.patterns else "none"

    def to_json(self) -> bool | list[str]:
        """The scope as the policy file writes it: true, or the list of globs."""
        return True if self.everything else list(self.patterns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scope) and (self.everything, self.patterns) == (other.everything, other.patterns)

    def __hash__(self) -> int:
        return hash((self.everything, self.patterns))

    def __repr__(self) -> str:
        return f"Scope({'everything' if self.everything else list(self.patterns)!r})"


@dataclass(frozen=True)
class Policy:
    """What `provenance check` enforces. Defaults fail closed: credentials required everywhere."""

    source: str = "default"  # where the policy came from, for reports
    require_credentials: Scope = field(default_factory=Scope.all)
    trust_anchors: Path | None = None  # resolved against the policy file's folder
    tsa_trust_anchors: Path | None = None  # anchors for time-stamping authorities, resolved the same way
    # None: follow the anchors (required when trust anchors are given, else not).
    require_trusted: Scope | None = None
    allowed_fingerprints: frozenset[str] = frozenset()
    allowed_subjects: tuple[str, ...] = ()
    require_ai_disclosure: Scope = field(default_factory=Scope.none)
    accept_recovered_ai_disclosure: bool = False
    forbid_ai: Scope = field(default_factory=Scope.none)
    require_timestamp: Scope = field(default_factory=Scope.none)
    allow_unsigned: Scope = field(default_factory=Scope.none)

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON-ready data, in the keys of the policy file."""
        return {
            "source": self.source,
            "require_credentials": self.require_credentials.to_json(),
            "trust_anchors": str(self.trust_anchors) if self.trust_anchors else None,
            "tsa_trust_anchors": str(self.tsa_trust_anchors) if self.tsa_trust_anchors else None,
            "require_trusted": self.require_trusted.to_json() if self.require_trusted is not None else None,
            "allowed_signers": {"sha256": sorted(self.allowed_fingerprints), "subjects": list(self.allowed_subjects)},
            "require_ai_disclosure": self.require_ai_disclosure.to_json(),
            "accept_recovered_ai_disclosure": self.accept_recovered_ai_disclosure,
            "forbid_ai": self.forbid_ai.to_json(),
            "require_timestamp": self.require_timestamp.to_json(),
            "allow_unsigned": self.allow_unsigned.to_json(),
        }


# key → (expected type in words, parser). Parsers raise ValueError with a plain message.
def _scope(value: Any) -> Scope:
    if isinstance(value, bool):
        return Scope.all() if value else Scope.none()
    if not isinstance(value, list):
        raise ValueError("must be true/false or a list of glob strings")
    return Scope(_globs(value))


def _globs(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of glob strings")
    if any(not v.strip() for v in value):
        raise ValueError("has an empty glob")
    return list(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a file path string")
    return value


def _resolve(base: Path, value: str) -> Path:
    """A policy path, `~` expanded, resolved against the policy file's folder."""
    try:
        return (base / Path(value).expanduser()).resolve()
    except RuntimeError as e:  # ~user with no such user (no home folder), or a symlink loop
        raise ValueError(f"cannot be resolved ({e})") from None
    except OSError as e:
        raise ValueError(f"cannot be resolved ({e.strerror or e})") from None


def _fingerprint(value: str) -> str:
    from provenance.trust.anchors import parse_fingerprint

    try:
        return parse_fingerprint(value)
    except TrustConfigError as e:
        raise ValueError(f"has {e.message} (64 hex digits, as `provenance trust show` prints)") from None


_SCOPE_KEYS = ("require_credentials", "require_trusted", "require_ai_disclosure", "forbid_ai", "require_timestamp")
KEYS = (
    "require_credentials",
    "trust_anchors",
    "tsa_trust_anchors",
    "require_trusted",
    "allowed_signers",
    "require_ai_disclosure",
    "accept_recovered_ai_disclosure",
    "forbid_ai",
    "require_timestamp",
    "allow_unsigned",
)
SIGNER_KEYS = ("sha256", "subjects")


class _Located:
    """Finds the line a key was written on, so errors can name it (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")

    def __init__(self, text: str, label: str) -> None:
        self.lines = text.splitlines()
        self.label = label

    @staticmethod
    def _parts(dotted: str) -> tuple[str, ...]:
        return tuple(p.strip().strip("\"'") for p in dotted.split("."))

    def line_of(self, table: tuple[str, ...], key: str | None = None) -> int | None:
        current: tuple[str, ...] = ()
        header_line = None
        for number, line in enumerate(self.lines, start=1):
            header = self._HEADER.match(line)
            if header:
                current = self._parts(header.group(1))
                if current == table:
                    header_line = number
                continue
            if key is None:
                continue
            match = re.match(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
            if match is None:
                continue
            full = current + self._parts(match.group(1))
            if full[: len(table) + 1] == (*table, key):
                return number
        if header_line is None and key is not None and table:
            # e.g. a key inside an inline table: name the line of the table's own key.
            return self.line_of(table[:-1], table[-1])
        return header_line

    def error(self, message: str, table: tuple[str, ...], key: str | None = None) -> PolicyError:
        line = self.line_of(table, key)
        where = f"{self.label}:{line}" if line else self.label
        return PolicyError(f"{where}: {message}")


def _decode(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise PolicyError(f"{label}: not valid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        line = getattr(e, "lineno", None)
        if line is None:
            found = re.search(r"at line (\d+)", message)
            line = int(found.group(1)) if found else max(1, len(text.splitlines()))
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise PolicyError(f"{label}:{line}: not valid TOML: {message}") from None


def _unknown(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; known keys: {', '.join(known)}"


def parse_policy(table: Mapping[str, Any], *, text: str, label: str, base: Path,
                 table_path: tuple[str, ...] = ()) -> Policy:
    """Build a Policy from a decoded TOML table; `text` is only used to name lines in errors."""
    where = _Located(text, label)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise where.error(_unknown(key, KEYS), table_path, key)
        try:
            if key in _SCOPE_KEYS:
                values[key] = _scope(value)
            elif key == "allow_unsigned":
                values[key] = Scope(_globs(value))
            elif key == "accept_recovered_ai_disclosure":
                values[key] = _flag(value)
            elif key in ("trust_anchors", "tsa_trust_anchors"):
                values[key] = _resolve(base, _path(value))
            elif key == "allowed_signers":
                values.update(_signers(value, where, (*table_path, key)))
        except ValueError as e:
            raise where.error(f"{key} {e}", table_path, key) from None
    return Policy(source=label, **values)


def _signers(value: Any, where: _Located, table_path: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError('must be a table: allowed_signers = { sha256 = ["…"], subjects = ["CN=…"] }')
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in SIGNER_KEYS:
            raise where.error(f"allowed_signers: {_unknown(key, SIGNER_KEYS)}", table_path, key)
        try:
            entries = _globs(item)
            if key == "sha256":
                out["allowed_fingerprints"] = frozenset(_fingerprint(v) for v in entries)
            else:
                out["allowed_subjects"] = tuple(entries)
        except ValueError as e:
            raise where.error(f"allowed_signers.{key} {e}", table_path, key) from None
    if not out.get("allowed_fingerprints") and not out.get("allowed_subjects"):
        raise ValueError("lists no signer: give sha256 fingerprints and/or subjects patterns")
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist", remedy="Check --policy / PROVENANCE_POLICY.") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise PolicyError(f"cannot read policy file {path}: {reason}") from None


def load_policy_file(path: Path) -> Policy:
    """A policy file: `provenance.toml` style (keys at the top), or a pyproject.toml's [tool.provenance]."""
    text = _read(path)
    label = str(path)
    data = _decode(text, label)
    if path.name == PYPROJECT_TOML:
        table = _pyproject_table(data, text, label)
        if table is None:
            raise PolicyError(f"{label}: has no [tool.provenance] table",
                              remedy="Add one, or point --policy elsewhere.")
        return parse_policy(table, text=text, label=label, base=path.parent, table_path=PYPROJECT_TABLE)
    return parse_policy(data, text=text, label=label, base=path.parent)


def _pyproject_table(data: dict[str, Any], text: str, label: str) -> dict[str, Any] | None:
    tool = data.get("tool", {})
    table = tool.get("provenance") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise _Located(text, label).error("tool.provenance must be a table", ("tool",), "provenance")
    return table


def find_policy(root: Path) -> Policy:
    """The policy for a tree: provenance.toml, then pyproject.toml's [tool.provenance], else the default."""
    standalone = root / PROVENANCE_TOML
    if standalone.is_file():
        return load_policy_file(standalone)
    pyproject = root / PYPROJECT_TOML
    if pyproject.is_file():
        text = _read(pyproject)
        table = _pyproject_table(_decode(text, str(pyproject)), text, str(pyproject))
        if table is not None:
            return parse_policy(table, text=text, label=str(pyproject), base=root, table_path=PYPROJECT_TABLE)
    return Policy()


def load_policy(root: Path, explicit: Path | None = None) -> Policy:
    """The policy file given (--policy), else the one found for `root`."""
    return load_policy_file(explicit) if explicit is not None else find_policy(root)
