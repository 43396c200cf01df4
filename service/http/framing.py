"""Request heads that RFC 9112 says to refuse with a 400, refused before routing.

Sanic 25.12 splits each header line at its first colon and strips only the value, so
`Transfer-Encoding : chunked` (a space or tab before the colon) is a header named
"transfer-encoding " that it ignores, and an obs-fold continuation line is a header of its
own; it then frames the request by Content-Length, where a proxy in front may honour the
Transfer-Encoding: the two disagree on where the request ends, and the rest of the body
is run as a request of its own (request smuggling). What Sanic refuses and lets through
is listed in docs/http-hardening.md.

`check_head` runs on the raw head in Sanic's `http.lifecycle.read_head` signal, which Sanic
dispatches inside its head parser's error handling: raising there makes Sanic answer 400
(worded as problem+json by the error handler, service/http/problems.py) and close the
connection, nothing of the request routed. The app answers that dispatch itself
(service/http/app.py, `ReviewsApp`): Sanic's signal router costs five times the check.
"""

from __future__ import annotations

import re

from service.http.problems import MalformedRequest

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# Every line after the request line starts with a field name (a token) and a colon: no
# obs-fold (a line starting with whitespace), no whitespace before the colon.
NOT_A_FIELD_LINE = re.compile(rb"\r\n(?!" + TOKEN + rb":)")
# What a head may hold besides its line ends: HTAB, visible ASCII and space, obs-text.
FIELD_BYTES = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
HEADER_LINE = re.compile(rb"(?P<name>[^:]*)(?P<colon>:?)(?P<value>.*)", re.DOTALL)
CONTROL_CHARACTER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def check_head(head: bytes) -> None:
    """Raise MalformedRequest, saying what is wrong, for a head RFC 9112 says to refuse.
    Each test is one pass in C over the bytes (a few µs a request in all)."""
    # Without the field bytes, only the CRLF line ends may be left: anything more is a
    # control character, a bare CR or a bare LF.
    others = head.translate(None, FIELD_BYTES)
    if NOT_A_FIELD_LINE.search(head) is not None or len(others) != 2 * head.count(b"\r\n"):
        raise MalformedRequest(_malformed_line(head))
    lower = head.lower()
    if b"\r\ntransfer-encoding:" in lower and b"\r\ncontent-length:" in lower:
        raise MalformedRequest(
            "a request may not have both Transfer-Encoding and Content-Length (RFC 9112 6.1)"
        )
    hosts = lower.count(b"\r\nhost:")
    if hosts > 1:
        raise MalformedRequest("more than one Host header (RFC 9112 3.2)")
    if hosts == 0 and lower.split(b"\r\n", 1)[0].endswith(b" http/1.1"):
        raise MalformedRequest("an HTTP/1.1 request must have a Host header (RFC 9112 3.2)")


def _malformed_line(head: bytes) -> str:
    """What is wrong with a head that failed check_head's first tests (the slow path)."""
    request_line, *lines = head.split(b"\r\n")
    if CONTROL_CHARACTER.search(request_line):
        return "the request line holds a control character"
    for number, line in enumerate(lines, start=1):
        if line[:1] in (b" ", b"\t"):
            return (
                f"header line {number} starts with whitespace: obs-fold line folding is "
                "not accepted (RFC 9112 5.2)"
            )
        parts = HEADER_LINE.fullmatch(line)
        assert parts is not None  # the pattern matches any bytes
        name = parts["name"]
        if not parts["colon"]:
            return f"header line {number} has no colon"
        if name[-1:] in (b" ", b"\t"):
            return (
                f"header line {number} has whitespace between the field name and the colon "
                "(RFC 9112 5.1)"
            )
        if not re.fullmatch(TOKEN, name):
            return f"header line {number} has a field name that is not a token (RFC 9110 5.1)"
        if CONTROL_CHARACTER.search(parts["value"]):
            return (
                f"header line {number} has a control character (NUL, CR, LF...) in its "
                "value (RFC 9110 5.5)"
            )
    return "the request head is malformed"


READ_HEAD = "http.lifecycle.read_head"


def read_head(head: bytes, **_context: object) -> None:
    """The `http.lifecycle.read_head` signal handler."""
    check_head(head)


async def checked_head(head: bytes) -> None:
    """`check_head` as the awaitable Sanic's parser expects from its dispatch."""
    check_head(head)
