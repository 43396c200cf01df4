"""The files `reviews-api load` reads, as a stream of batches of normalised review rows.

Two kinds of source, told apart by their first bytes (not their names):

- a SQLite file of the original schema (table `reviews`, pandas' camelCase columns); extra
  columns such as pandas' `level_0` are ignored, a missing one is an error naming it;
- an Amazon JSON-lines dump, plain or gzipped: the 2018 format (`vote`, `verified`) or the
  2014 one (`helpful: [helpful, total]`, no `verified`), each line a JSON object or, as the
  2014 dumps were often distributed, a Python dict literal (read with ast.literal_eval,
  which evaluates nothing); a UTF-8 byte order mark at the start of the file is skipped.

Every source yields the same thing: lists of `Review` tuples in the raw table's column
order (`COLUMNS`), already checked and converted (`normalise`), so the PostgreSQL and the
SQLite writers take them as they are.

Design
------
Batches, not rows and not tables. Rows are read `BATCH_ROWS` at a time (`fetchmany` for
SQLite, line by line for JSON), so memory stays flat whatever the source's size, and each
batch is one COPY for the loader, which can name the batch's rows when PostgreSQL rejects
one.

One check, per row, in one place. `normalise` is the only code that decides whether a
value is acceptable; both sources call it, and its rules are within the CHECK constraints of
public.reviews (migrations/postgres/0001), so a bad row is reported with its file and line
(or index) before PostgreSQL sees it, and the SQLite writer, which has no constraints,
gets the same guarantees. The vote rule (`vote_text`) is the table of README "Helpful
votes", which queries/sqlite/summaries.sql applies too when the service reads a SQLite file
directly; review times must be within REVIEW_TIME_RANGE. It is the hot loop of a load (a
quarter of a million rows for the real data), so its fast path is a handful of dict look-ups
and type tests; working out *what* is wrong happens only once something is.

Parts. A large SQLite table can be read as several sources of consecutive rowid ranges
(`split`), so that several processes read (and the loader copies) it side by side: reading
rows into Python objects is the loader's largest cost, and one process can only use one
core for it. A JSON dump is read as one.

Locations. A SQLite row is named by its `index` ("row with index=12"); a JSON row by its
line. The JSON `index` is the 0-based *physical* line number (blank lines are skipped but
counted), so a row's index always leads back to its line: line = index + 1.

Bad rows. By default the first bad row stops the read (SourceError naming it). Given a
`reject` callback (`reviews-api load --on-bad-row skip`), a source skips each bad row and
reports it, with where it was and why, and goes on.
"""

from __future__ import annotations

import ast
import gzip
import io
import re
import sqlite3
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol, cast

import aiosql
import orjson

from service.store.sql_files import queries_dir

SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
# Rows per batch: big enough that per-batch costs (a COPY statement, a thread hand-off)
# vanish, small enough that a few batches in flight stay at tens of megabytes.
BATCH_ROWS = 20_000

# The raw table's columns, in order (public.reviews, migrations/sqlite/schema.sql).
COLUMNS = (
    "index",
    "overall",
    "verified",
    "reviewTime",
    "reviewerID",
    "productID",
    "reviewerName",
    "reviewText",
    "summary",
    "unixReviewTime",
    "vote",
)

# One row, as both writers take it, in COLUMNS order.
Review = tuple[
    int, int, bool | None, str, str, str, str | None, str | None, str | None, int, str | None
]
# A source's rows, a batch at a time; close() releases the file.
Batches = Generator[list[Review], None, None]

# 5.0 and 5 hash and compare equal, so one look-up accepts either and yields the int.
WHOLE_STARS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
# SQLite stores verified as 0/1, JSON as true/false (True == 1, False == 0 as dict keys).
VERIFIED_FLAGS = {0: False, 1: True, None: None}
FLAG_TYPES = (bool, int, type(None))
INVALID = object()
# Accepted votes (README, "Helpful votes"), once surrounding whitespace is removed: digits
# ("1078", "007"), or digits with a comma every three from the right ("1,078"); at most
# MAX_VOTES (public.reviews.helpful_votes is an INTEGER). queries/sqlite/summaries.sql
# applies the same table when the service reads a SQLite file directly.
VOTE_DIGITS = re.compile(r"[0-9]+")
VOTE_THOUSANDS = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+")
VOTE_WHITESPACE = " \t\n\r"
MAX_VOTES = 2**31 - 1
# Review times a load accepts, in Unix seconds: [1995-01-01, 2100-01-01) UTC. Amazon's first
# reviews are from 1995; a time in milliseconds (1393545600000) is far beyond the end.
REVIEW_TIME_RANGE = (
    int(datetime(1995, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()),
)
# public.reviews."index" is a BIGINT.
INDEX_RANGE = (-(2**63), 2**63)
OPTIONAL_TEXT_COLUMNS = ("reviewerName", "reviewText", "summary")
UTF8_BOM = b"\xef\xbb\xbf"


class SourceError(Exception):
    """The source cannot be loaded; the message names the file, the row or line, and why."""


class RowProblem(ValueError):
    """One value of a row is unacceptable (raised by `normalise`, located by the source)."""

    def __init__(self, column: str, value: object, reason: str) -> None:
        super().__init__(f"{column}={value!r} {reason}")
        self.column = column
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class Rejected:
    """A row skipped as bad: where it was (a line of a dump, or the index of a SQLite row)
    and why."""

    source: str
    line: int | None
    index: object
    reason: str

    def record(self) -> dict[str, object]:
        """The line of the rejects file (JSON): source, line or index, reason."""
        where = {"line": self.line} if self.line is not None else {"index": self.index}
        return {"source": self.source, **where, "reason": self.reason}


# Called with each bad row when bad rows are skipped.
Reject = Callable[[Rejected], None]


class Source(Protocol):
    """A readable review file."""

    path: Path

    def batches(self, reject: Reject | None = None) -> Batches:
        """Every row, normalised, `BATCH_ROWS` at a time. A bad row: SourceError, or, given
        `reject`, skipped and passed to it."""
        ...

    def location(self, review: Review) -> str:
        """Where a row came from, for messages: '<file>: line 12'."""
        ...

    def split(self, parts: int, min_rows: int) -> list[Source]:
        """This source as up to `parts` sources that together yield each row once (any
        order), to read side by side; [self] when it cannot be split or has fewer than
        about `min_rows` rows. The parts must pickle: they are read in other processes."""
        ...


def open_source(path: Path) -> Source:
    """The reader for `path`, chosen by its first bytes; checks what can be checked early
    (the file exists, the SQLite table has its columns) so mistakes surface before a load
    touches a database."""
    header = _header(path)
    if header.startswith(SQLITE_MAGIC):
        return SQLiteSource(path)
    if header.startswith(GZIP_MAGIC):
        return JsonLinesSource(path, compressed=True)
    if header.removeprefix(UTF8_BOM).lstrip().startswith(b"{") or path.name.endswith(
        (".json", ".jsonl")
    ):
        return JsonLinesSource(path, compressed=False)
    raise SourceError(f"{path}: neither a SQLite database nor a JSON-lines dump (.json, .json.gz)")


def is_sqlite_file(path: Path) -> bool:
    return _header(path).startswith(SQLITE_MAGIC)


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise SourceError(f"{path} does not exist") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read it ({error.strerror})") from error


def normalise(raw: tuple[Any, ...]) -> Review:
    """A row as the writers take it, or RowProblem naming the first bad value.

    `raw` is in COLUMNS order, straight from the source: overall a number, verified
    0/1/true/false/None; everything else already of its final type if the row is good.
    """
    (index, overall, verified, review_time, reviewer_id, product_id, name, text, summary,
     unix_time, vote) = raw  # fmt: skip
    stars = WHOLE_STARS.get(overall) if type(overall) in (int, float) else None
    flag = VERIFIED_FLAGS.get(verified, INVALID) if type(verified) in FLAG_TYPES else INVALID
    if vote is not None:
        vote = vote_text(vote)
    if (
        stars is None
        or flag is INVALID
        or type(index) is not int
        or not INDEX_RANGE[0] <= index < INDEX_RANGE[1]
        or type(unix_time) is not int
        or not REVIEW_TIME_RANGE[0] <= unix_time < REVIEW_TIME_RANGE[1]
        or type(review_time) is not str
        or type(reviewer_id) is not str
        or type(product_id) is not str
        or not reviewer_id
        or not product_id
        or (name is not None and type(name) is not str)
        or (text is not None and type(text) is not str)
        or (summary is not None and type(summary) is not str)
    ):
        raise _problem(raw)
    verified = cast("bool | None", flag)
    return (index, stars, verified, review_time, reviewer_id, product_id, name, text, summary,
            unix_time, vote)  # fmt: skip


def vote_text(vote: object) -> str | None:
    """A vote as stored: the accepted form without its surrounding whitespace, None for
    none (blank text); RowProblem when it is not an accepted form (README table)."""
    if type(vote) is int and 0 <= vote <= MAX_VOTES:  # a JSON number (not a bool)
        return str(vote)
    if type(vote) is str:
        text = vote.strip(VOTE_WHITESPACE)
        if not text:
            return None
        if (VOTE_DIGITS.fullmatch(text) or VOTE_THOUSANDS.fullmatch(text)) and int(
            text.replace(",", "")
        ) <= MAX_VOTES:
            return text
    raise RowProblem(
        "vote", vote, f"is not a vote count like 2, 1078 or 1,078 (0 to {MAX_VOTES:,})"
    )


def _problem(raw: tuple[Any, ...]) -> RowProblem:
    """The first bad value of a row `normalise` refused: the slow path, taken once."""
    row = dict(zip(COLUMNS, raw, strict=True))
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        (
            "index",
            lambda v: type(v) is int and INDEX_RANGE[0] <= v < INDEX_RANGE[1],
            "is not a 64-bit integer",
        ),
        (
            "overall",
            lambda v: type(v) in (int, float) and v in WHOLE_STARS,
            "is not a whole star rating 1..5",
        ),
        (
            "verified",
            lambda v: type(v) in FLAG_TYPES and VERIFIED_FLAGS.get(v, INVALID) is not INVALID,
            "is not a boolean (true/false or 1/0) or null",
        ),
        ("reviewTime", lambda v: type(v) is str, "is not text"),
        ("reviewerID", lambda v: type(v) is str and v != "", "is not a non-empty text"),
        ("productID", lambda v: type(v) is str and v != "", "is not a non-empty text"),
        *(
            (column, lambda v: v is None or type(v) is str, "is not text or null")
            for column in OPTIONAL_TEXT_COLUMNS
        ),
        ("unixReviewTime", lambda v: type(v) is int, "is not an integer"),
        (
            "unixReviewTime",
            lambda v: REVIEW_TIME_RANGE[0] <= v < REVIEW_TIME_RANGE[1],
            "is outside the review times a load accepts (1995-01-01 to 2099-12-31 UTC, in seconds)",
        ),
    ]
    if row["vote"] is not None:
        try:
            vote_text(row["vote"])
        except RowProblem as problem:
            checks.append(("vote", lambda v: False, problem.reason))
    for column, acceptable, reason in checks:
        if not acceptable(row[column]):
            return RowProblem(column, row[column], reason)
    raise AssertionError(f"normalise refused a row with no bad value: {raw!r}")


@cache
def sqlite_queries() -> Any:
    """queries/loader/sqlite: reading a source file (source.sql), writing one (target.sql)."""
    return aiosql.from_path(queries_dir("loader", "sqlite"), "sqlite3")


def check_review_table(connection: sqlite3.Connection, path: Path) -> None:
    """SourceError unless the database has table `reviews` with every column of COLUMNS
    (names are case-sensitive, as pandas wrote them; extra columns are fine)."""
    present = {name for (name,) in sqlite_queries().review_columns(connection)}
    if not present:
        raise SourceError(f"{path}: no table named reviews")
    missing = [column for column in COLUMNS if column not in present]
    if missing:
        raise SourceError(
            f"{path}: table reviews lacks the required column(s) {', '.join(missing)} "
            "(column names are case-sensitive)"
        )


# Names by which SQLite addresses a table's rowid, unless a column takes the name.
ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})


class SQLiteSource:
    """Table `reviews` of a SQLite file of the original schema, opened read-only; or one
    part of it, the rows whose rowid is within `rowids` (first, last)."""

    def __init__(self, path: Path, rowids: tuple[int, int] | None = None) -> None:
        self.path = path
        self.rowids = rowids
        with self._connect() as connection:
            try:
                check_review_table(connection, path)
            except sqlite3.Error as error:
                raise SourceError(f"{path}: cannot read it as SQLite ({error})") from error

    def _connect(self) -> _ClosingConnection:
        try:
            # Not tied to a thread: the loader reads in a worker thread, and a generator left
            # unfinished is closed by whichever thread collects it.
            return _ClosingConnection(
                sqlite3.connect(path_uri(self.path, "ro"), uri=True, check_same_thread=False)
            )
        except sqlite3.Error as error:
            raise SourceError(f"{self.path}: cannot open it as SQLite ({error})") from error

    def batches(self, reject: Reject | None = None) -> Batches:
        # The connection is opened by the first next(), in the thread that reads.
        with self._connect() as connection:
            try:
                with self._select_cursor(connection) as cursor:
                    while raw_rows := cursor.fetchmany(BATCH_ROWS):
                        yield self._normalised(raw_rows, reject)
            except sqlite3.Error as error:
                raise SourceError(f"{self.path}: cannot read table reviews ({error})") from error

    def _select_cursor(self, connection: sqlite3.Connection) -> Any:
        if self.rowids is None:
            return sqlite_queries().select_reviews_cursor(connection)
        first, last = self.rowids
        return sqlite_queries().select_review_range_cursor(
            connection, first_rowid=first, last_rowid=last
        )

    def split(self, parts: int, min_rows: int) -> list[Source]:
        """Consecutive rowid ranges of about equal size (a range seek each, and rows keep
        their storage order within a part). Not split: a part already, fewer than about
        `min_rows` rowids, or no rowid to split by (a view, a WITHOUT ROWID table, a column
        named rowid)."""
        if parts < 2 or self.rowids is not None:
            return [self]
        try:
            with self._connect() as connection:
                columns = {name.lower() for (name,) in sqlite_queries().review_columns(connection)}
                if columns & ROWID_NAMES:
                    return [self]
                first, last = sqlite_queries().review_rowid_bounds(connection)
        except sqlite3.Error:
            return [self]  # no rowid: read it as one
        if first is None or last - first + 1 < min_rows:
            return [self]
        size = -(-(last - first + 1) // parts)  # ceiling: `parts` ranges cover every rowid
        return [
            SQLiteSource(self.path, (start, min(start + size - 1, last)))
            for start in range(first, last + 1, size)
        ]

    def _normalised(self, raw_rows: list[tuple[Any, ...]], reject: Reject | None) -> list[Review]:
        try:
            return [normalise(raw) for raw in raw_rows]
        except RowProblem:
            pass
        good = []
        for raw in raw_rows:  # find which rows, to say where
            try:
                good.append(normalise(raw))
            except RowProblem as problem:
                if reject is None:
                    raise SourceError(f"{self._where(raw[0])}: {problem}") from None
                reject(Rejected(str(self.path), None, raw[0], str(problem)))
        return good

    def location(self, review: Review) -> str:
        return self._where(review[0])

    def _where(self, index: object) -> str:
        return f"{self.path}: row with index={index!r}"


class _ClosingConnection:
    """`with` for sqlite3 that closes the connection (sqlite3's own `with` only commits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()


def path_uri(path: Path, mode: str) -> str:
    """A sqlite3 URI for `path` (any characters) opened with `mode` (ro, rw): never creates."""
    return f"{path.resolve().as_uri()}?mode={mode}"


# The dump's field for each column the JSON reader takes (the others have the same name).
JSON_FIELDS = {"productID": "asin"}


class JsonLinesSource:
    """An Amazon review dump: one JSON object per line, 2018 or 2014 format, maybe gzipped."""

    def __init__(self, path: Path, *, compressed: bool) -> None:
        self.path = path
        self.compressed = compressed

    def _open(self) -> io.BufferedIOBase:
        if self.compressed:
            return gzip.open(self.path, "rb")
        return self.path.open("rb")

    def batches(self, reject: Reject | None = None) -> Batches:
        batch: list[Review] = []
        try:
            with self._open() as lines:
                for line_number, line in enumerate(lines, start=1):
                    if line_number == 1:
                        line = line.removeprefix(UTF8_BOM)
                    if line.isspace() or not line:
                        continue
                    try:
                        batch.append(self._review(line, line_number))
                    except _BadLine as bad:
                        if reject is None:
                            raise SourceError(f"{self._where(line_number)}: {bad}") from None
                        reject(Rejected(str(self.path), line_number, None, str(bad)))
                        continue
                    if len(batch) == BATCH_ROWS:
                        yield batch
                        batch = []
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise SourceError(f"{self.path}: cannot read it ({error})") from error
        if batch:
            yield batch

    def _review(self, line: bytes, line_number: int) -> Review:
        """The line's row; _BadLine saying what is wrong with it."""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            record = _python_literal(line)
            if record is None:
                raise _BadLine(f"not valid JSON ({error}) nor a Python dict literal") from None
        if type(record) is not dict:
            raise _BadLine("not a JSON object")
        try:
            raw = (
                line_number - 1,
                record["overall"],
                record.get("verified"),  # absent from 2014 dumps
                record["reviewTime"],
                record["reviewerID"],
                record["asin"],
                record.get("reviewerName"),
                record.get("reviewText"),
                record.get("summary"),
                record["unixReviewTime"],
                record["vote"] if "vote" in record else _vote_from_helpful(record),
            )
            return normalise(raw)
        except KeyError as error:
            raise _BadLine(f"required field {error.args[0]!r} is missing") from None
        except RowProblem as problem:
            field = JSON_FIELDS.get(problem.column, problem.column)
            raise _BadLine(f"{field}={problem.value!r} {problem.reason}") from None

    def location(self, review: Review) -> str:
        return self._where(review[0] + 1)

    def split(self, parts: int, min_rows: int) -> list[Source]:
        """A dump is read as one: lines cannot be found without reading all before them."""
        return [self]

    def _where(self, line_number: int) -> str:
        return f"{self.path}: line {line_number}"


class _BadLine(ValueError):
    """What is wrong with one line of a dump (located by the caller)."""


def _python_literal(line: bytes) -> Any:
    """A line that is not JSON as a Python literal (the 2014 dumps' single-quoted dicts),
    or None. ast.literal_eval only parses literals: nothing in the line is run."""
    try:
        return ast.literal_eval(line.decode("utf-8").strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # UnicodeDecodeError is a ValueError


def _vote_from_helpful(record: dict[str, Any]) -> str | None:
    """The 2014 format's `helpful: [helpful, total]` as a 2018 `vote`: the helpful count
    with thousands commas ("1,078"), or None when nobody found the review helpful."""
    helpful = record.get("helpful")
    if helpful is None:
        return None
    if (
        type(helpful) is not list
        or len(helpful) != 2
        or not all(type(count) is int and count >= 0 for count in helpful)
    ):
        raise RowProblem("helpful", helpful, "is not [helpful votes, total votes]")
    return f"{helpful[0]:,}" if helpful[0] > 0 else None
