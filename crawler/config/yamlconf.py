"""Admin YAML: safe loading with line numbers, and errors that name the file, key, line and hint."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crawler.exceptions import ConfigError

KeyPath = tuple[str | int, ...]
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # names of sources, topics and watchers
LANGUAGES = ("fr", "ar", "en", "es", "amz")


class LineMap(dict[KeyPath, int]):
    """Key path -> line of its key; a value written over several lines also keeps its source."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[KeyPath, tuple[int, str]] = {}  # first line, source text

    def line_in_value(self, key: KeyPath, value: str, column: int) -> int | None:
        """The file line of `column` (1-based) of a value written over several lines: YAML folds
        them into one string, so count the words before it and find that word in the source."""
        if key not in self.sources:
            return None
        first, source = self.sources[key]
        before = len(value[: max(column - 1, 0)].split())
        for index, word in enumerate(re.finditer(r"\S+", source)):
            if index == before:
                return first + source.count("\n", 0, word.start())
        return first + source.rstrip().count("\n")


def _line_map(node: yaml.Node, path: KeyPath, lines: LineMap, text: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.end_mark.line > node.start_mark.line:
        first, source = node.start_mark.line + 1, text[node.start_mark.index : node.end_mark.index]
        if node.style in (">", "|"):  # the header line (">-") holds no word of the value
            first, source = first + 1, source.partition("\n")[2]
        lines.sources[path] = (first, source)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), lines, text)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, path + (index,), lines, text)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse a YAML file with the safe loader; return the data and a key-path to line map."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"{path}: file not found (hint: create it or pass --config DIR)"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc} (hint: save it as UTF-8)"]) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        hint = "check the indentation and quote values that contain ': ' or '#'"
        raise ConfigError([f"{where}: YAML syntax error: {exc.problem} (hint: {hint})"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from exc
    finally:
        loader.dispose()
    lines = LineMap()
    if node is not None:
        _line_map(node, (), lines, text)
    return data, lines


def format_path(path: KeyPath) -> str:
    """Render ('sources', 3, 'feeds', 0) as sources[3].feeds[0]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass
class Problems:
    """Collects every error of one file so the admin sees them all at once."""

    path: Path
    lines: dict[KeyPath, int]
    messages: list[str] = field(default_factory=list)

    def add(
        self, key: KeyPath, message: str, hint: str = "", owner: str = "", at: tuple[str, int] | None = None
    ) -> None:
        """Record one problem at a key path; `owner` names the source/topic/watcher; `at`, a value
        and a column in it, names the line of that column when the value spans several lines."""
        line = self._line(key)
        if at is not None and isinstance(self.lines, LineMap):
            line = self.lines.line_in_value(key, *at) or line
        where = f"{self.path}:{line}" if line else str(self.path)
        who = f"{owner}, " if owner else ""
        what = f"key '{format_path(key)}': " if key else ""  # the whole file
        text = f"{where}: {who}{what}{message}"
        self.messages.append(f"{text} (hint: {hint})" if hint else text)

    def _line(self, key: KeyPath) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get(())

    def raise_if_any(self) -> None:
        """Raise ConfigError listing every recorded problem."""
        if self.messages:
            raise ConfigError(self.messages)

    def begin_entry(
        self, raw: Any, key: KeyPath, kind: str, allowed: Iterable[str], example: str
    ) -> tuple[str, int] | None:
        """Start checking one named entry (its type, keys and name): (its label, problems before it)."""
        if not self.expect(raw, dict, key, f"each {kind} is a mapping starting with '- name: ...'"):
            return None
        name = raw.get("name")
        owner = f"{kind} '{name}'" if isinstance(name, str) else f"{kind} #{key[-1] + 1}"
        before = len(self.messages)
        self.check_keys(raw, allowed, key, owner)
        if not isinstance(name, str) or not NAME_RE.match(name):
            self.add(
                key + ("name",),
                f"invalid or missing name {name!r}",
                f"use lowercase letters, digits and '-', e.g. {example}",
                owner,
            )
        return owner, before

    def check_keys(self, raw: Mapping, allowed: Iterable[str], key: KeyPath, owner: str = "") -> None:
        """Report keys that the schema does not know, suggesting the closest one."""
        allowed = list(allowed)
        for name in raw:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
                self.add(key + (str(name),), "unknown key", hint, owner)

    def expect(
        self, raw: Any, kind: type | tuple[type, ...], key: KeyPath, hint: str, owner: str = ""
    ) -> bool:
        """Report a value of the wrong type; return True when the type is right."""
        # YAML's true/false are ints to Python; a number setting must not accept them.
        ok = isinstance(raw, kind) and not (isinstance(raw, bool) and bool not in _kinds(kind))
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.add(key, f"expected {_article(names)}, got {type(raw).__name__} {raw!r}", hint, owner)
        return ok


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _article(name: str) -> str:
    names = {
        "str": "a string",
        "int": "a whole number",
        "float": "a number",
        "bool": "true or false",
        "list": "a list",
        "dict": "a mapping",
    }
    return " or ".join(names.get(n, n) for n in name.split(" or "))


def load_named_list(
    path: Path, section: str, kind: str, per: str, build: Callable[[Any, KeyPath, Problems], Any]
) -> tuple[Any, ...]:
    """Read a file holding one `section:` list of named entries (sources, topics, watchers): build
    each with `build`, which records its own problems, and refuse two entries with one name."""
    raw, lines = load_yaml(path)
    problems = Problems(path, lines)
    if not isinstance(raw, dict) or not isinstance(raw.get(section), list):
        problems.add(
            (section,),
            f"the file must hold a '{section}:' list",
            f"start the file with '{section}:' and one '- name: ...' entry per {per}",
        )
        problems.raise_if_any()
    problems.check_keys(raw, [section], ())
    items, seen = [], set()
    for index, entry in enumerate(raw[section]):
        item = build(entry, (section, index), problems)
        if item is None:
            continue
        if item.name in seen:
            problems.add(
                (section, index, "name"),
                f"duplicate {kind} name '{item.name}'",
                f"every {kind} needs its own name",
                f"{kind} '{item.name}'",
            )
        seen.add(item.name)
        items.append(item)
    problems.raise_if_any()
    return tuple(items)
