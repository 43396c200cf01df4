"""Hand-written mutations of the SQL, each of which the tests must catch.

No mutation tool reads SQL, so the plausible mistakes are listed here: date bounds in both
dialects, the FILTER conditions, vote parsing, the reviewer-name tie-break, the mean. Each
is applied to a scratch copy of the repository (the working tree as `git ls-files` sees it,
untracked files included), the tests that should notice it run there (PYTHONPATH points
the `service` package, and so the SQL it reads, at the copy; subprocesses inherit it), and
the mutation is reported caught (a test failed) or survived (all passed). Exit status 1
when one survived, or when a mutation's original text is no longer in its file (the list
must follow the SQL); 2 when the tests fail on the unchanged copy (the baseline).

    .venv/bin/python scripts/sql_mutations.py            # all (several minutes)
    .venv/bin/python scripts/sql_mutations.py sqlite-    # those whose name starts so
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE = "queries/sqlite/summaries.sql"
PG_FUNCTIONS = "migrations/postgres/0004.summary-functions.sql"
PG_TABLE = "migrations/postgres/0001.reviews-table.sql"
# The fast tier serves SQLite in process; the summaries' PostgreSQL half needs a server.
SQLITE_TESTS = ("tests/fast",)
POSTGRES_TESTS = ("tests/test_summaries.py", "-k", "postgres")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    why: str


MUTATIONS = (
    # --- SQLite: queries/sqlite/summaries.sql --------------------------------------------
    Mutation(
        "sqlite-upper-bound-at-midnight",
        SQLITE,
        "< coalesce(unixepoch(:date_to, '+1 day'), 253402300800)",
        "<= coalesce(unixepoch(:date_to), 253402300800)",
        SQLITE_TESTS,
        "the `to` day counted only up to 00:00:00",
    ),
    Mutation(
        "sqlite-upper-bound-inclusive",
        SQLITE,
        "< coalesce(unixepoch(:date_to, '+1 day'), 253402300800)",
        "<= coalesce(unixepoch(:date_to, '+1 day'), 253402300800)",
        SQLITE_TESTS,
        "00:00:00 of the day after `to` counted",
    ),
    Mutation(
        "sqlite-lower-bound-exclusive",
        SQLITE,
        '"unixReviewTime" >= coalesce(unixepoch(:date_from), -62135596800)',
        '"unixReviewTime" > coalesce(unixepoch(:date_from), -62135596800)',
        SQLITE_TESTS,
        "00:00:00 of the `from` day left out",
    ),
    Mutation(
        "sqlite-filter-rating",
        SQLITE,
        "count(*) FILTER (WHERE rating = 4) AS rating_4",
        "count(*) FILTER (WHERE rating >= 4) AS rating_4",
        SQLITE_TESTS,
        "a FILTER condition",
    ),
    Mutation(
        "sqlite-filter-verified",
        SQLITE,
        "count(*) FILTER (WHERE verified = 1) AS verified_review_count",
        "count(*) FILTER (WHERE verified IS NOT NULL) AS verified_review_count",
        SQLITE_TESTS,
        "unverified (0) reviews counted as verified",
    ),
    Mutation(
        "sqlite-vote-parsing",
        SQLITE,
        """cast(replace(r."vote", ',', '') AS INTEGER) AS helpful_votes""",
        """cast(r."vote" AS INTEGER) AS helpful_votes""",
        SQLITE_TESTS,
        "'1,078' read as 1",
    ),
    Mutation(
        "sqlite-name-tie-break",
        SQLITE,
        'ORDER BY n."unixReviewTime" DESC, n."index" DESC',
        'ORDER BY n."unixReviewTime" DESC, n."index" ASC',
        SQLITE_TESTS,
        "a tie on the latest second goes to the lower row",
    ),
    Mutation(
        "sqlite-name-by-row-only",
        SQLITE,
        'ORDER BY n."unixReviewTime" DESC, n."index" DESC',
        'ORDER BY n."index" DESC',
        SQLITE_TESTS,
        "the latest name by row, not by review time",
    ),
    Mutation(
        "sqlite-distinct-reviewers",
        SQLITE,
        "count(DISTINCT reviewer_id) AS distinct_reviewers",
        "count(reviewer_id) AS distinct_reviewers",
        SQLITE_TESTS,
        "a reviewer counted once per review",
    ),
    Mutation(
        "sqlite-first-date",
        SQLITE,
        "date(min(review_time), 'unixepoch') AS first_review_date",
        "date(min(review_time)) AS first_review_date",
        SQLITE_TESTS,
        "the Unix time read as a Julian day",
    ),
    # --- PostgreSQL: the summary functions and the derived columns ------------------------
    Mutation(
        "postgres-upper-bound",
        PG_FUNCTIONS,
        "r.review_date < coalesce(product_review_summary.to_date + 1, 'infinity'::DATE)",
        "r.review_date < coalesce(product_review_summary.to_date, 'infinity'::DATE)",
        POSTGRES_TESTS,
        "the `to` day left out (products)",
    ),
    Mutation(
        "postgres-lower-bound",
        PG_FUNCTIONS,
        "r.review_date >= coalesce(reviewer_review_summary.from_date, '-infinity'::DATE)",
        "r.review_date > coalesce(reviewer_review_summary.from_date, '-infinity'::DATE)",
        POSTGRES_TESTS,
        "the `from` day left out (reviewers)",
    ),
    Mutation(
        "postgres-review-date-rounded",
        PG_TABLE,
        'floor("unixReviewTime" / 86400.0)::INTEGER',
        'round("unixReviewTime" / 86400.0)::INTEGER',
        POSTGRES_TESTS,
        "a review from 12:00 on lands on the next day",
    ),
    Mutation(
        "postgres-review-date-cast",
        PG_TABLE,
        'floor("unixReviewTime" / 86400.0)::INTEGER',
        '("unixReviewTime" / 86400.0)::INTEGER',
        POSTGRES_TESTS,
        "the cast rounds where floor was meant",
    ),
    Mutation(
        "postgres-filter-rating",
        PG_FUNCTIONS,
        "count(*) FILTER (WHERE r.rating = 2) AS rating_2",
        "count(*) FILTER (WHERE r.rating <= 2) AS rating_2",
        POSTGRES_TESTS,
        "a FILTER condition",
    ),
    Mutation(
        "postgres-filter-verified",
        PG_FUNCTIONS,
        "count(*) FILTER (WHERE r.verified) AS verified_review_count",
        "count(*) FILTER (WHERE r.verified IS NOT NULL) AS verified_review_count",
        POSTGRES_TESTS,
        "unverified (false) reviews counted as verified",
    ),
    Mutation(
        "postgres-vote-parsing",
        PG_TABLE,
        """coalesce(replace("vote", ',', '')::INTEGER, 0)""",
        """coalesce(split_part("vote", ',', 1)::INTEGER, 0)""",
        POSTGRES_TESTS,
        "'1,078' read as 1",
    ),
    Mutation(
        "postgres-name-tie-break",
        PG_FUNCTIONS,
        "ORDER BY n.review_time_unix DESC, n.review_index DESC",
        "ORDER BY n.review_time_unix DESC, n.review_index ASC",
        POSTGRES_TESTS,
        "a tie on the latest second goes to the lower row",
    ),
    Mutation(
        "postgres-name-by-day",
        PG_FUNCTIONS,
        "ORDER BY n.review_time_unix DESC, n.review_index DESC",
        "ORDER BY n.review_date DESC, n.review_index DESC",
        POSTGRES_TESTS,
        "the latest name by day, not by review time",
    ),
    Mutation(
        "postgres-integer-mean",
        PG_FUNCTIONS,
        "sum(r.rating)::DOUBLE PRECISION / nullif(count(*), 0) AS average_rating",
        "(sum(r.rating) / nullif(count(*), 0))::DOUBLE PRECISION AS average_rating",
        POSTGRES_TESTS,
        "integer division in the mean",
    ),
    Mutation(
        "postgres-distinct-products",
        PG_FUNCTIONS,
        "count(DISTINCT r.product_id) AS distinct_products",
        "count(r.product_id) AS distinct_products",
        POSTGRES_TESTS,
        "a product counted once per review",
    ),
)


def scratch_copy(destination: Path) -> None:
    """The working tree's files as git sees them (tracked and untracked, not ignored)."""
    git_ls_files = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(  # noqa: S603 - fixed arguments
        git_ls_files,
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run(mutation: Mutation | None, tests: tuple[str, ...]) -> tuple[str, float, str]:
    """(outcome, seconds, last lines of pytest's output) of `tests` on a scratch copy with
    `mutation` applied (None: unchanged, the baseline, which must pass)."""
    with tempfile.TemporaryDirectory(prefix="sql-mutation-") as scratch:
        copy = Path(scratch)
        scratch_copy(copy)
        if mutation is not None:
            path = copy / mutation.path
            text = path.read_text()
            if mutation.original not in text:
                return "STALE", 0.0, f"{mutation.original!r} is not in {mutation.path}"
            path.write_text(text.replace(mutation.original, mutation.mutated))
        started = time.monotonic()
        pytest = str(Path(sys.executable).parent / "pytest")
        result = subprocess.run(  # noqa: S603 - this venv's pytest, arguments from MUTATIONS
            [pytest, "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        seconds = time.monotonic() - started
    tail = "\n".join(result.stdout.strip().splitlines()[-3:])
    outcome = {0: "SURVIVED", 1: "caught"}.get(result.returncode, f"ERROR {result.returncode}")
    return outcome, seconds, tail


def main(prefixes: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not prefixes or m.name.startswith(tuple(prefixes))]
    # A mutation is caught only if the same tests pass without it.
    for tests in dict.fromkeys(mutation.tests for mutation in chosen):
        outcome, seconds, tail = run(None, tests)
        print(f"baseline  {seconds:6.1f} s  {' '.join(tests)}: {tail.splitlines()[-1]}", flush=True)
        if outcome != "SURVIVED":  # i.e. the unchanged copy does not pass
            print("    " + tail.replace("\n", "\n    "), flush=True)
            return 2
    failures = 0
    for mutation in chosen:
        outcome, seconds, tail = run(mutation, mutation.tests)
        print(f"{outcome:9} {seconds:6.1f} s  {mutation.name}: {mutation.why}", flush=True)
        if outcome != "caught":
            failures += 1
            print("    " + tail.replace("\n", "\n    "), flush=True)
    print(f"{len(chosen) - failures} of {len(chosen)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
