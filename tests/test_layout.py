"""The package's import graph: no module imports itself round a cycle, and verifying never loads signing code.

Imports are read from the source with `ast`, wherever they are written (module level, inside a
function, under TYPE_CHECKING): a cycle hidden in a function still ties the modules together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import provenance

PACKAGE = "provenance"
ROOT = Path(provenance.__file__).resolve().parent
# Where verifying starts; everything these import, transitively, is the verify path.
VERIFY_ROOTS = ("provenance.verify", "provenance._fast.verify")
# The signing path: none of it may be loaded to verify a file. Every name must exist, so a renamed
# module fails here instead of silently dropping out of the check.
SIGNING_PATH = frozenset({
    "provenance.signing",
    "provenance.manifest",
    "provenance._fast.sign",
    "provenance._fast.native",
    "provenance._fast.builder",
    "provenance._fast.copy",
    "provenance._fast.embed",
    "provenance._fast.selfcheck",
    "provenance.keys.signers",
    "provenance.keys.pkcs11",
})

Graph = Mapping[str, frozenset[str]]


def module_name(path: Path) -> str:
    """The dotted name of a source file under the package (a package's __init__ is the package)."""
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(tree: ast.AST, importer: str, is_package: bool, modules: Iterable[str]) -> frozenset[str]:
    """The package's modules that `tree` imports anywhere; `from a import b` names module a.b when it is one."""
    known = set(modules)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, importer, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return frozenset(name for name in found if name in known and name != importer)


def import_graph() -> dict[str, frozenset[str]]:
    """Each module of the package and the package's modules it imports."""
    files = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
    return {
        name: imports_of(ast.parse(path.read_text(encoding="utf-8"), str(path)), name,
                         path.name == "__init__.py", files)
        for name, path in files.items()
    }


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of modules that import each other (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def path_between(graph: Graph, start: str, goal: str) -> list[str]:
    """A shortest chain of imports from `start` to `goal`; empty when there is none."""
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target in seen:
                    continue
                seen.add(target)
                previous[target] = node
                if target == goal:
                    chain = [goal]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return chain[::-1]
                following.append(target)
        frontier = following
    return []


def reachable(graph: Graph, roots: Iterable[str]) -> set[str]:
    """The roots and every module they import, transitively."""
    seen = set(roots)
    pending = list(seen)
    while pending:
        for target in graph.get(pending.pop(), ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def describe_cycle(graph: Graph, group: list[str]) -> str:
    """One cycle of a group, written as the chain of imports that closes it."""
    first = group[0]
    inside = {name: graph[name] & set(group) for name in group}
    back = min((path_between(inside, target, first) for target in inside[first]), key=len)
    return " -> ".join([first, *back])


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "provenance.trust.timestamp" in graph["provenance.verify"]
    assert "provenance._formats.jumbf" in graph["provenance.trust.timestamp"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = [describe_cycle(graph, group) for group in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_verifying_does_not_import_signing() -> None:
    graph = import_graph()
    missing = sorted((set(VERIFY_ROOTS) | SIGNING_PATH) - set(graph))
    assert not missing, f"no such modules (update the lists in this test): {missing}"
    verify_path = reachable(graph, VERIFY_ROOTS)
    offenders = sorted(verify_path & SIGNING_PATH)
    chains = []
    for name in offenders:
        found = [chain for chain in (path_between(graph, root, name) for root in VERIFY_ROOTS) if chain]
        shortest: list[str] = min(found, key=len)
        chains.append(" -> ".join(shortest))
    assert not offenders, "the verify path imports the signing path:\n" + "\n".join(chains)


def test_the_checks_catch_what_they_look_for() -> None:
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}) \
        == [["a", "b", "c"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []
    source = ast.parse("import provenance.codes\ndef f():\n    from . import media\n    from .keys import pki\n")
    modules = {"provenance.codes", "provenance.media", "provenance.keys", "provenance.keys.pki"}
    assert imports_of(source, "provenance.verify", False, modules) == {
        "provenance.codes", "provenance.media", "provenance.keys.pki"}
