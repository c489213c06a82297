"""Boolean topic queries: parse the `query:` string of a topic, evaluate it against term hits."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, reduce

from crawler.exceptions import QueryError

FIELDS = ("title", "summary", "body")
QUOTES = '"“”«»'
MAX_NEAR = 50
MAX_SATISFIABLE_TERMS = 16
_FIELD = re.compile(r"([A-Za-z]+):")
_NEAR = re.compile(r"NEAR/(\d+)")  # \d also takes Arabic-Indic digits, which int() reads
_STARTS = ("TERM", "(", "NOT")  # tokens that can begin an operand


@dataclass(frozen=True)
class TermRef:
    """One term as written: a word (maybe a prefix) or a quoted phrase, maybe limited to a field."""

    text: str
    prefix: bool = False
    field: str | None = None
    phrase: bool = False


@dataclass(frozen=True)
class And:
    """All items must match."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one item must match."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The item must not match."""

    item: Node


@dataclass(frozen=True)
class Near:
    """Both terms in the same field with at most `distance` words between them."""

    left: TermRef
    right: TermRef
    distance: int


Node = TermRef | And | Or | Not | Near


@dataclass(frozen=True)
class Hit:
    """Where the matcher found a term: a field and an inclusive range of word indexes."""

    field: str
    start: int
    end: int


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "TERM" or "END"
    col: int
    term: TermRef | None = None
    distance: int = 0


def _tokenize(text: str) -> list[_Token]:
    """Split a query into tokens, raising QueryError for malformed words, phrases and fields."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        col = i + 1
        if text[i] in "()":
            tokens.append(_Token(text[i], col))
            i += 1
            continue
        field = None
        if m := _FIELD.match(text, i):
            field = m.group(1)
            if field not in FIELDS:
                raise QueryError(f"unknown field '{field}' (use title, summary or body)", col)
            i = m.end()
            if i < n and text[i] == "(":
                raise QueryError(f"'{field}:' applies to one term or phrase, not a group", col)
            if i == n or text[i].isspace() or text[i] == ")":
                raise QueryError(f"'{field}:' needs a term right after the colon", col)
        if text[i] in QUOTES:
            close = next((j for j in range(i + 1, n) if text[j] in QUOTES), -1)
            if close < 0:
                raise QueryError("quote is never closed", i + 1)
            body = text[i + 1 : close]
            if "*" in body:
                raise QueryError("'*' does not work inside a phrase", i + 2 + body.index("*"))
            if not body.split():
                raise QueryError("empty phrase", i + 1)
            if close + 1 < n and text[close + 1] == "*":
                raise QueryError("'*' works on single words, not phrases", close + 2)
            tokens.append(_Token("TERM", col, TermRef(" ".join(body.split()), field=field, phrase=True)))
            i = close + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in "()" + QUOTES:
            j += 1
        word, i = text[i:j], j
        tokens.append(_word_token(word, field, col, j - len(word) + 1))
    tokens.append(_Token("END", n + 1))
    return tokens


def _word_token(word: str, field: str | None, col: int, word_col: int) -> _Token:
    """An operator token, or a term token for a plain or prefix word."""
    if field is None and word in ("AND", "OR", "NOT"):
        return _Token(word, col)
    if field is None and (word == "NEAR" or word.startswith("NEAR/")):
        if not (m := _NEAR.fullmatch(word)):
            raise QueryError("NEAR needs a distance such as NEAR/5", col)
        distance = int(m.group(1))
        if not 1 <= distance <= MAX_NEAR:
            raise QueryError(f"NEAR distance must be between 1 and {MAX_NEAR}, not {distance}", col)
        return _Token("NEAR", col, distance=distance)
    star = word.find("*")
    if word == "*":
        raise QueryError("'*' needs a word before it", word_col)
    if star != -1 and star != len(word) - 1:
        raise QueryError("'*' only works at the end of a word", word_col + star)
    return _Token("TERM", col, TermRef(word.rstrip("*"), prefix=star != -1, field=field))


def _join(cls: type[And] | type[Or], items: list[Node]) -> Node:
    """One node for several items, flattening nested nodes of the same type."""
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(flat))


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def operand_after(self, op: _Token, message: str) -> None:
        if self.peek().kind not in _STARTS:
            raise QueryError(message, op.col)

    def query(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.operand_after(self.take(), "OR needs a term on both sides")
            items.append(self.and_expr())
        return _join(Or, items)

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while (tok := self.peek()).kind in ("AND", *_STARTS):
            if tok.kind == "AND":
                self.operand_after(self.take(), "AND needs a term on both sides")
            items.append(self.not_expr())
        return _join(And, items)

    def not_expr(self) -> Node:
        if self.peek().kind != "NOT":
            return self.near_expr()
        self.operand_after(self.take(), "NOT needs a term after it")
        return Not(self.not_expr())

    def near_expr(self) -> Node:
        grouped = self.peek().kind == "("
        left = self.primary()
        pairs: list[Node] = []
        while self.peek().kind == "NEAR":
            op = self.take()
            if grouped or self.peek().kind == "(":
                raise QueryError("NEAR joins two terms, not groups", op.col)
            if self.peek().kind != "TERM":
                raise QueryError("NEAR needs a term on both sides", op.col)
            right = self.take().term
            assert isinstance(left, TermRef) and right is not None
            # A chain a NEAR b NEAR c means both pairs are near: And(Near(a, b), Near(b, c)).
            pairs.append(Near(left, right, op.distance))
            left = right
        return _join(And, pairs) if pairs else left

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "TERM" and tok.term is not None:
            return tok.term
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise QueryError("empty parentheses", tok.col)
            if self.peek().kind == "END":
                raise QueryError("'(' is never closed", tok.col)
            node = self.query()
            if self.take().kind != ")":
                raise QueryError("'(' is never closed", tok.col)
            return node
        if tok.kind == ")":
            raise QueryError("')' has no matching '('", tok.col)
        if tok.kind in ("AND", "OR", "NEAR"):
            raise QueryError(f"{tok.kind} needs a term on both sides", tok.col)
        raise QueryError("expected a term", tok.col)


def parse_query(text: str) -> Node:
    """Parse a topic query; raises QueryError with the 1-based column of the problem."""
    tokens = _tokenize(text)
    if len(tokens) == 1:
        raise QueryError("empty query", 1)
    parser = _Parser(tokens)
    node = parser.query()
    if (tok := parser.peek()).kind == ")":
        raise QueryError("')' has no matching '('", tok.col)
    return node


def query_terms(node: Node) -> list[TermRef]:
    """Distinct terms of a query, in order of appearance."""
    match node:
        case TermRef():
            found = [node]
        case Near(left, right, _):
            found = [left, right]
        case Not(item):
            found = query_terms(item)
        case And(items) | Or(items):
            found = [term for item in items for term in query_terms(item)]
        case _:
            raise TypeError(f"not a query node: {node!r}")
    return list(dict.fromkeys(found))


def _gap(a: Hit, b: Hit) -> int:
    """Words strictly between two hits; 0 when they touch or overlap."""
    return max(0, max(a.start, b.start) - min(a.end, b.end) - 1)


def evaluate(node: Node, hits: Callable[[TermRef], Sequence[Hit]]) -> bool:
    """Whether the query matches, given the hits of each term (asked at most once per term)."""
    return _holds(node, cache(hits))


def _close(a: Hit, b: Hit, left: TermRef, right: TermRef, distance: int) -> bool:
    # `x NEAR/n x` needs two occurrences, not one hit paired with itself.
    return a.field == b.field and _gap(a, b) <= distance and (left != right or a != b)


def _holds(node: Node, found: Callable[[TermRef], Sequence[Hit]]) -> bool:
    match node:
        case TermRef():
            return bool(found(node))
        case Near(left, right, distance):
            return any(_close(a, b, left, right, distance) for a in found(left) for b in found(right))
        case Not(item):
            return not _holds(item, found)
        case And(items):
            return all(_holds(item, found) for item in items)
        case Or(items):
            return any(_holds(item, found) for item in items)
    raise TypeError(f"not a query node: {node!r}")


def witnesses(node: Node, hits: Callable[[TermRef], Sequence[Hit]]) -> dict[TermRef, list[Hit]]:
    """The hits that make a query hold, per term: only the close pairs of a NEAR, only the branches
    of an OR that hold, nothing under NOT (empty when the query does not hold)."""
    found = cache(hits)
    out: dict[TermRef, list[Hit]] = {}

    def keep(ref: TermRef, hit: Hit) -> None:
        if hit not in out.setdefault(ref, []):
            out[ref].append(hit)

    def collect(node: Node) -> None:
        match node:
            case TermRef():
                for hit in found(node):
                    keep(node, hit)
            case Near(left, right, distance):
                for a in found(left):
                    for b in found(right):
                        if _close(a, b, left, right, distance):
                            keep(left, a)
                            keep(right, b)
            case And(items) | Or(items):
                for item in items:
                    if _holds(item, found):
                        collect(item)

    if _holds(node, found):
        collect(node)
    return out


def satisfiable(node: Node) -> bool:
    """False when no presence/absence of the terms can make the query true, e.g. `a AND NOT a`."""
    terms = query_terms(node)
    if len(terms) > MAX_SATISFIABLE_TERMS:
        return True
    size = 1 << len(terms)
    full = (1 << size) - 1
    # Every assignment at once: one bit per assignment, so AND/OR/NOT become &, |, ~.
    # Term i is true in assignment j when bit i of j is set: runs of 2**i zeros then ones, repeated.
    tables = {
        term: (((1 << (1 << i)) - 1) << (1 << i)) * (full // ((1 << (2 << i)) - 1))
        for i, term in enumerate(terms)
    }

    def table(node: Node, positive: bool) -> int:
        match node:
            case TermRef():
                return tables[node]
            case Near(left, right, _):
                # NEAR is AND plus an unknown distance: under NOT it may be false even with both terms
                # present, so it counts as false there; otherwise `a b NOT (a NEAR/3 b)` looks impossible.
                return tables[left] & tables[right] if positive else 0
            case Not(item):
                return full & ~table(item, not positive)
            case And(items):
                return reduce(operator.and_, (table(item, positive) for item in items), full)
            case Or(items):
                return reduce(operator.or_, (table(item, positive) for item in items), 0)
        raise TypeError(f"not a query node: {node!r}")

    return table(node, True) != 0


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Near: 4, TermRef: 5}


def _wrapped(node: Node, least: int) -> str:
    """Render a child, in parentheses when it binds more loosely than `least`."""
    text = render(node)
    return text if _PRECEDENCE[type(node)] >= least else f"({text})"


def render(node: Node) -> str:
    """Canonical text of a parsed query (explicit AND); parsing it gives an equal node."""
    match node:
        case TermRef(text, prefix, field, phrase):
            written = f'"{text}"' if phrase else text + "*" * prefix
            return f"{field}:{written}" if field else written
        case Near(left, right, distance):
            return f"{render(left)} NEAR/{distance} {render(right)}"
        case Not(item):
            return f"NOT {_wrapped(item, 3)}"
        case And(items):
            return " AND ".join(_wrapped(item, 3) for item in items)
        case Or(items):
            return " OR ".join(_wrapped(item, 2) for item in items)
    raise TypeError(f"not a query node: {node!r}")
