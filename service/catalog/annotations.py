"""The annotations of a function's COMMENT (docs/api-catalog.md, "Annotations").

A comment is read line by line: lines that start with `@` (after spaces) are annotations,
the others prose. The first line is the summary; the other prose lines are the
description, a blank line between paragraphs. This module checks each annotation's own
syntax; whether the names it gives exist is for the builder (service/catalog/build.py),
which knows the function. Every error names the function and the line.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field, replace
from typing import Any

from service.catalog.model import CatalogError

# A public parameter name travels in URLs unencoded: letters, digits and - . _ ~
PUBLIC_NAME = re.compile(r"[A-Za-z0-9_.~-]+")


@dataclass(frozen=True)
class Annotation:
    """One annotation line: its keyword, its parts, and where it is, for messages."""

    keyword: str
    line: int
    source: str
    # route: method, path; returns: kind; param: argument, public name; items: field;
    # group: field, prefix; range: two arguments; order: fields; echo: arguments;
    # argument, column: the name; notfound: the {argument} placeholders of `text`.
    names: tuple[str, ...] = ()
    # echo: the object field of `@echo <field>: <arguments>`, else None.
    object_field: str | None = None
    # argument, column: the JSON object merged into the schema, and the description.
    schema: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    example: Any = None

    def where(self, function: str) -> str:
        """The prefix of an error about this line."""
        return f"{function}: COMMENT line {self.line} {self.source!r}"


@dataclass(frozen=True)
class ParsedComment:
    summary: str
    description: str
    annotations: tuple[Annotation, ...]

    def of(self, keyword: str) -> list[Annotation]:
        return [annotation for annotation in self.annotations if annotation.keyword == keyword]


def parse_comment(function: str, comment: str | None) -> ParsedComment:
    """Split `comment` (of `function`, a regprocedure for messages) into its summary, its
    description and its annotations, each annotation checked for syntax."""
    lines = (comment or "").replace("\r\n", "\n").split("\n")
    if lines and not lines[0].strip():
        lines = lines[1:]  # COMMENT ... IS $$<newline>: numbered from the first real line
    summary: str | None = None
    paragraphs: list[list[str]] = [[]]
    annotations = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("@"):
            annotations.append(_annotation(function, number, line))
            if summary is None:
                summary = ""  # the first line is an annotation: no summary
        elif summary is None:
            if line:
                summary = line
        elif line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    description = "\n\n".join(" ".join(paragraph) for paragraph in paragraphs if paragraph)
    return ParsedComment(summary or "", description, tuple(annotations))


def _annotation(function: str, number: int, line: str) -> Annotation:
    keyword, _, rest = line[1:].partition(" ")
    rest = rest.strip()
    words = rest.split()
    parser = _PARSERS.get(keyword)
    if parser is None:
        known = ", ".join(f"@{name}" for name in _PARSERS)
        raise CatalogError(
            f"{function}: COMMENT line {number} {line!r}: unknown annotation @{keyword} "
            f"(known: {known})"
        )
    try:
        return parser(Annotation(keyword, number, line), rest, words)
    except _SyntaxProblem as problem:
        raise CatalogError(f"{function}: COMMENT line {number} {line!r}: {problem}") from None


class _SyntaxProblem(Exception):
    pass


def _exactly(words: list[str], count: int, usage: str) -> None:
    if len(words) != count:
        raise _SyntaxProblem(f"expected {usage}")


def _route(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 2, "@route GET /path/{argument}")
    method, path = words
    if method != "GET":
        raise _SyntaxProblem(f"only GET routes are served, not {method}")
    if not path.startswith("/"):
        raise _SyntaxProblem(f"the path {path!r} must start with /")
    return replace(annotation, names=(method, path))


def _returns(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    if words not in (["object"], ["list"]):
        raise _SyntaxProblem("expected @returns object or @returns list")
    return replace(annotation, names=(words[0],))


def _param(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 2, "@param <argument> <public name>")
    if not PUBLIC_NAME.fullmatch(words[1]):
        raise _SyntaxProblem(
            f"the public name {words[1]!r} may hold only letters, digits and - . _ ~"
        )
    return replace(annotation, names=tuple(words))


def _described(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    """@argument and @column: a name, an optional JSON object, a text."""
    if not words:
        raise _SyntaxProblem(f"expected @{annotation.keyword} <name> [{{json}}] <description>")
    name = words[0]
    after = rest[len(name) :].strip()
    schema: dict[str, Any] = {}
    if after.startswith("{"):
        try:
            value, end = json.JSONDecoder().raw_decode(after)
        except json.JSONDecodeError as error:
            raise _SyntaxProblem(f"the JSON after {name} is not valid: {error}") from None
        if not isinstance(value, dict):
            raise _SyntaxProblem(f"the JSON after {name} must be an object")
        schema, after = value, after[end:].strip()
    return replace(annotation, names=(name,), schema=schema, text=after)


def _echo(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    if ":" in rest:
        field_name, _, arguments = rest.partition(":")
        if len(field_name.split()) != 1 or not arguments.split():
            raise _SyntaxProblem("expected @echo <field>: <argument> <argument>...")
        return replace(annotation, object_field=field_name.strip(), names=tuple(arguments.split()))
    _exactly(words, 1, "@echo <argument> or @echo <field>: <argument> <argument>...")
    return replace(annotation, names=tuple(words))


def _group(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 2, "@group <field> <column prefix>")
    return replace(annotation, names=tuple(words))


def _order(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    if not words:
        raise _SyntaxProblem("expected @order <field> <field>...")
    return replace(annotation, names=tuple(words))


def _range(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 2, "@range <argument> <argument>")
    return replace(annotation, names=tuple(words))


def _items(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 1, "@items <field>")
    return replace(annotation, names=tuple(words))


def _limit(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    _exactly(words, 1, "@limit <argument>")
    return replace(annotation, names=tuple(words))


def _cursor(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    """@cursor <public name>: <argument>=<column> ...; names: public, then pairs."""
    usage = "@cursor <public name>: <argument>=<column> <argument>=<column>..."
    public, colon, pairs = rest.partition(":")
    if not colon or len(public.split()) != 1 or not pairs.split():
        raise _SyntaxProblem(f"expected {usage}")
    names = [public.strip()]
    for pair in pairs.split():
        argument, equals, column = pair.partition("=")
        if not equals or not argument or not column:
            raise _SyntaxProblem(f"expected {usage}")
        names += [argument, column]
    if not PUBLIC_NAME.fullmatch(names[0]):
        raise _SyntaxProblem(
            f"the public name {names[0]!r} may hold only letters, digits and - . _ ~"
        )
    return replace(annotation, names=tuple(names))


def _hidden(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    if not words:
        raise _SyntaxProblem("expected @hidden <column> <column>...")
    return replace(annotation, names=tuple(words))


def _missing(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    field_name, colon, pair = rest.partition(":")
    if not colon or len(field_name.split()) != 1 or len(pair.split()) != 2:
        raise _SyntaxProblem("expected @missing <field>: <array argument> <column>")
    return replace(annotation, names=(field_name.strip(), *pair.split()))


def _example(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    """@example <json>: an answer, for the OpenAPI document (validated against it)."""
    try:
        value = json.loads(rest)
    except json.JSONDecodeError as error:
        raise _SyntaxProblem(f"expected @example <JSON of an answer>: {error}") from None
    return replace(annotation, example=value)


def _notfound(annotation: Annotation, rest: str, words: list[str]) -> Annotation:
    if not rest:
        raise _SyntaxProblem("expected @notfound <text>, {argument} for an argument's value")
    return replace(annotation, names=placeholders(rest), text=rest)


def placeholders(text: str) -> tuple[str, ...]:
    """The `{argument}` names of a @notfound text."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise _SyntaxProblem(f"{error} (write {{{{ and }}}} for literal braces)") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or spec or conversion:
            raise _SyntaxProblem("placeholders are {argument}, nothing else")
        names.append(name)
    return tuple(names)


_PARSERS = {
    "route": _route,
    "returns": _returns,
    "param": _param,
    "argument": _described,
    "column": _described,
    "echo": _echo,
    "group": _group,
    "order": _order,
    "range": _range,
    "items": _items,
    "notfound": _notfound,
    "example": _example,
    "limit": _limit,
    "cursor": _cursor,
    "hidden": _hidden,
    "missing": _missing,
}
