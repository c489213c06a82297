"""The one import rule: each layer imports only from the layers below it, in every import of every
module (inside functions and under TYPE_CHECKING too). And the one storage rule: only crawler/archive/
holds SQL or commits."""

from __future__ import annotations

import ast
import re
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

# A string that starts with one of these words is an SQL statement; these calls run or end one.
SQL = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT"
    r"|RELEASE|VACUUM|WITH)\s"
)
RUNS_SQL = {"execute", "executemany", "executescript", "commit", "rollback"}
# SQL outside crawler/archive/ that is moving there, being done by a colleague (issue #11, step 4).
# This list only shrinks: a file leaves it as soon as its SQL has moved.
MOVING = {
    "alerts/dispatch.py",
    "alerts/notices.py",
    "alerts/outbox.py",
    "crawler/cli/alerts.py",
    "scheduler.py",
}


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


def runs_sql(node: ast.AST) -> bool:
    """An SQL statement, or a call that runs or ends one."""
    statement = isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL
    return bool(statement or call)


def sql_lines(path: Path) -> list[int]:
    """The lines of a module that hold an SQL statement or a call that runs or commits one."""
    return sorted({node.lineno for node in ast.walk(ast.parse(path.read_text("utf-8"))) if runs_sql(node)})


def sql_outside_archive() -> dict[str, list[int]]:
    """Our modules outside crawler/archive/ (tests and bench aside) that hold SQL: their lines, by file."""
    found = {}
    for module, path in modules().items():
        if layer(module) != layer("crawler.archive") and (lines := sql_lines(path)):
            found[path.relative_to(ROOT).as_posix()] = lines
    return found


def test_imports_run_one_way() -> None:
    upward = upward_imports()
    assert upward - KNOWN == set(), "upward imports (the rule is in the README's Development section)"
    assert KNOWN - upward == set(), "these upward imports are gone: take them off KNOWN"


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if layer(m) < 0] == []


def test_no_import_cycles() -> None:
    assert cycles() == []


def test_sql_and_commits_only_in_the_archive() -> None:
    found = sql_outside_archive()
    assert {path: lines for path, lines in found.items() if path not in MOVING} == {}, (
        "SQL outside crawler/archive/: move it behind an archive function named for what it does"
    )
    assert all((ROOT / path).is_file() for path in MOVING), "MOVING names a file that is gone"


def test_the_sql_guard_sees_statements_and_commits(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('q = f"SELECT id FROM t WHERE a = {1}"\nconn.commit()\nnote = "Selected: 3"\n', "utf-8")
    assert sql_lines(module) == [1, 2]
