"""Argument defaults as JSON values (docs/api-catalog.md, "Required or optional").

PostgreSQL gives a default as the text of an expression (`pg_get_function_arg_default`),
whose spelling differs between versions (casts, parentheses, quoting), so the catalog
file holds the value instead: NULL is null, `'2016-01-01'::date` is "2016-01-01", `5` is
5, `ARRAY['a,b'::text, 'c'::text]` and `'{"a,b",c}'::text[]` are ["a,b", "c"]. Only
constants are read: NULL, literals, arrays of them, with or without casts. Anything else
(`now()`, `1 + 1`, `CURRENT_DATE`) is not a constant, and a routed function may not have
one: the service passes every argument, so the default must be known in advance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

_TOKEN = re.compile(
    r"""
    \s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<quoted>"(?:[^"]|"")+")
      | (?P<symbol>::|[()\[\],.-])
    )
    """,
    re.VERBOSE,
)

_TRUE = {"t", "true", "y", "yes", "on", "1"}
_FALSE = {"f", "false", "n", "no", "off", "0"}


class NotConstant(ValueError):
    """The default is not a constant this module can read as a JSON value."""


@dataclass(frozen=True)
class _Literal:
    text: str
    kind: str  # string, number, boolean, null


@dataclass(frozen=True)
class _Array:
    items: tuple[_Literal | _Array, ...]


def default_value(
    expression: str, api_type: str, *, array: bool = False, enum: list[str] | None = None
) -> Any:
    """The JSON value of a constant default `expression` of an argument of `api_type`
    (text, date, integer, number, boolean; the element's type for an array); raises
    NotConstant otherwise."""
    node = _Parser(expression).parse()
    if array:
        if isinstance(node, _Literal) and node.kind == "string":
            node = _Array(tuple(_array_literal(node.text, expression)))
        if isinstance(node, _Literal) and node.kind == "null":
            return None
        if not isinstance(node, _Array):
            raise NotConstant(f"{expression} is not an array constant")
        return [_scalar(item, api_type, enum, expression) for item in node.items]
    return _scalar(node, api_type, enum, expression)


def _scalar(node: _Literal | _Array, api_type: str, enum: list[str] | None, source: str) -> Any:
    if isinstance(node, _Array):
        raise NotConstant(f"{source}: an array where a single value is expected")
    if node.kind == "null":
        return None
    text = node.text
    try:
        if enum is not None:
            if text not in enum:
                raise NotConstant(f"{source}: {text!r} is not one of the labels {enum}")
            return text
        if api_type == "text":
            return text
        if api_type == "date":
            return date.fromisoformat(text).isoformat()
        if api_type == "integer":
            return int(text)
        if api_type == "number":
            return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)
        if api_type == "boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise NotConstant(f"{source}: {text!r} is not a boolean")
    except ValueError as error:
        if isinstance(error, NotConstant):
            raise
        raise NotConstant(f"{source}: {text!r} is not a constant {api_type}") from None
    raise NotConstant(f"{source}: no JSON value for type {api_type}")


class _Parser:
    """expression := primary ('::' type)*
    primary := '(' expression ')' | NULL | TRUE | FALSE | ['-'] number | string
             | ARRAY '[' [expression (',' expression)*] ']'"""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(source):
            if not source[position:].strip():
                break
            match = _TOKEN.match(source, position)
            if match is None or match.lastgroup is None:
                raise NotConstant(f"{source} is not a constant")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        self.position = 0

    def parse(self) -> _Literal | _Array:
        node = self._expression()
        if self.position != len(self.tokens):
            raise NotConstant(f"{self.source} is not a constant")
        return node

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("", "")

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if not token[0] or (value is not None and token[1].upper() != value):
            raise NotConstant(f"{self.source} is not a constant")
        self.position += 1
        return token

    def _expression(self) -> _Literal | _Array:
        node = self._primary()
        while self._peek()[1] == "::":
            self._take()
            self._type()
        return node

    def _primary(self) -> _Literal | _Array:
        kind, value = self._take()
        if value == "(":
            node = self._expression()
            self._take(")")
            return node
        if value == "-" and self._peek()[0] == "number":
            return _Literal("-" + self._take()[1], "number")
        if kind == "number":
            return _Literal(value, "number")
        if kind == "string":
            return _Literal(value[1:-1].replace("''", "'"), "string")
        if kind == "word" and value.upper() == "NULL":
            return _Literal("", "null")
        if kind == "word" and value.upper() in ("TRUE", "FALSE"):
            return _Literal(value.lower(), "boolean")
        if kind == "word" and value.upper() == "ARRAY":
            self._take("[")
            items: list[_Literal | _Array] = []
            while self._peek()[1] != "]":
                if items:
                    self._take(",")
                items.append(self._expression())
            self._take("]")
            return _Array(tuple(items))
        raise NotConstant(f"{self.source} is not a constant")

    def _type(self) -> None:
        """A type name, as format_type writes it: words and dots (`character varying`,
        `review_api.mood`), an optional modifier `(21)`, and `[]` for arrays."""
        names = 0
        while self._peek()[0] in ("word", "quoted") or self._peek()[1] == ".":
            self._take()
            names += 1
        if not names:
            raise NotConstant(f"{self.source} is not a constant")
        if self._peek()[1] == "(" and self._following_is_modifier():
            self._take("(")
            while self._peek()[1] != ")":
                self._take()
            self._take(")")
        while self._peek()[1] == "[":
            self._take("[")
            self._take("]")

    def _following_is_modifier(self) -> bool:
        tokens = self.tokens[self.position + 1 :]
        for kind, value in tokens:
            if value == ")":
                return True
            if kind != "number" and value != ",":
                return False
        return False


def _array_literal(text: str, source: str) -> list[_Literal]:
    """The elements of a one-dimensional array literal `{a,"b,c",NULL}`."""
    try:
        return _array_elements(text.strip(), source)
    except IndexError:  # an unterminated quote
        raise NotConstant(f"{source}: {text!r} is not an array literal") from None


def _array_elements(text: str, source: str) -> list[_Literal]:
    if not (text.startswith("{") and text.endswith("}")):
        raise NotConstant(f"{source}: {text!r} is not an array literal")
    body = text[1:-1]
    items: list[_Literal] = []
    position = 0
    while position < len(body):
        while position < len(body) and body[position].isspace():
            position += 1
        if body[position] == "{":
            raise NotConstant(f"{source}: only one-dimensional arrays are supported")
        if body[position] == '"':
            position += 1
            value = []
            while body[position] != '"':
                if body[position] == "\\":
                    position += 1
                value.append(body[position])
                position += 1
            position += 1
            items.append(_Literal("".join(value), "string"))
        else:
            end = body.find(",", position)
            end = len(body) if end < 0 else end
            word = body[position:end].strip()
            items.append(
                _Literal("", "null") if word.upper() == "NULL" else _Literal(word, "string")
            )
            position = end
        while position < len(body) and body[position].isspace():
            position += 1
        if position < len(body):
            if body[position] != ",":
                raise NotConstant(f"{source}: {text!r} is not an array literal")
            position += 1
    return items
