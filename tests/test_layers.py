"""The one import rule: each layer imports only from the layers below it, in every import of every
module (inside functions and under TYPE_CHECKING too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lowest first. A module's layer is the first whose prefix its dotted name starts with.
LAYERS = (
    ("base", ("crawler.exceptions", "crawler.runs", "crawler.__init__")),
    ("extract", ("crawler.extract",)),
    ("config", ("crawler.config",)),
    ("archive", ("crawler.archive",)),
    ("alerts", ("alerts",)),
    ("scrapy glue", ("crawler", "spiders")),
    ("daemon", ("crawler.daemon",)),
    ("scheduler", ("scheduler",)),
    ("cli", ("crawler.cli",)),
)
# Upward imports not yet removed (issue #11, step 4: the archive's SQL and hooks). This list only
# shrinks: a pair that no longer occurs must leave it too.
KNOWN: set[tuple[str, str]] = set()


def layer(module: str) -> int:
    """The index of a module's layer: the longest prefix that names it wins."""
    best = (-1, -1)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    return best[1]


def modules() -> dict[str, Path]:
    found = {"scheduler": ROOT / "scheduler.py"}
    for package in ("crawler", "alerts", "spiders"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__") if name.endswith(".__init__") else name] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from the module's package
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            out |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return {name for name in out if name.split(".")[0] in ("crawler", "alerts", "spiders", "scheduler")}


def edges() -> set[tuple[str, str]]:
    """Every (importer, imported) pair of our modules."""
    found = modules()
    pairs = set()
    for module, path in found.items():
        for name in imports(path, module):
            target = next((n for n in (name, name.rsplit(".", 1)[0]) if n in found), None)
            if target and target != module:
                pairs.add((module, target))
    return pairs


def upward_imports() -> set[tuple[str, str]]:
    return {(a, b) for a, b in edges() if layer(b) > layer(a)}


def cycles() -> list[list[str]]:
    """The import cycles among our modules (a package importing its own submodules aside)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges():
        if not b.startswith(a + "."):
            graph.setdefault(a, set()).add(b)
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_imports_run_one_way() -> None:
    upward = upward_imports()
    assert upward - KNOWN == set(), "upward imports (the rule is in the README's Development section)"
    assert KNOWN - upward == set(), "these upward imports are gone: take them off KNOWN"


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if layer(m) < 0] == []


def test_no_import_cycles() -> None:
    assert cycles() == []
