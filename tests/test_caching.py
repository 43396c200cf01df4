"""HTTP caching and representations: strong ETags with the data version, 304 on a match,
Cache-Control and Vary, and CSV on request."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import oracle
import pytest
from conftest import RunningServer, run_cli, send_raw, start_server, stop_server, summary_path
from postgres_server import ThrowawayDatabase
from review_rows import Review, generate_reviews, write_sqlite

PATH = "/v1/products/ENDS/reviews/summary"


def test_200_carries_a_strong_etag_and_cache_headers(client: httpx.Client) -> None:
    response = client.get(PATH)
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "Accept"
    assert client.get(PATH).headers["etag"] == etag, "same data, same tag"


@pytest.mark.parametrize("form", ["{}", "W/{}", '"other", {}', '"other",{}', "*"])
def test_if_none_match_answers_304(client: httpx.Client, form: str) -> None:
    etag = client.get(PATH).headers["etag"]
    response = client.get(PATH, headers={"If-None-Match": form.format(etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=60"


def test_a_stale_tag_gets_the_full_answer(client: httpx.Client) -> None:
    response = client.get(PATH, headers={"If-None-Match": '"0-000000000000000000000000"'})
    assert response.status_code == 200
    assert response.json()["product_id"] == "ENDS"


def test_every_representation_has_its_own_tag(client: httpx.Client) -> None:
    tags = {
        client.get(PATH).headers["etag"],
        client.get(f"{PATH}?format=csv").headers["etag"],
        client.get(f"{PATH}?from=2003-01-01").headers["etag"],
    }
    assert len(tags) == 3


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("?format=csv", None, "text/csv"),
        ("", "text/csv", "text/csv"),
        ("", "text/csv;q=0.9, application/json;q=0.5", "text/csv"),
        ("", "application/json, text/csv;q=0.5", "application/json"),
        ("", "*/*", "application/json"),
        ("?format=json", "text/csv", "application/json"),
        ("?format=csv", "application/json", "text/csv"),
        # q-values, case, spaces, wildcards: JSON unless CSV is strictly preferred.
        ("", "TEXT/CSV", "text/csv"),
        ("", "text/csv ; q=0.8 , application/json ; q=0.7", "text/csv"),
        ("", "text/csv;q=0", "application/json"),
        ("", "text/csv;q=0.5, application/json;q=0.5", "application/json"),
        ("", "text/csv;q=2, application/json", "application/json"),  # q is at most 1
        ("", "text/csv;q=-1, application/json;q=0.001", "application/json"),
        ("", "text/csv;q=oops, application/json;q=0.1", "application/json"),
        ("", "text/csv;level=1;q=0.9, application/json;q=0.8", "text/csv"),
        ("", "text/*", "application/json"),
        ("", "text/*;q=1, application/*;q=0.1", "application/json"),
        ("", "application/*;q=0.2, text/csv;q=0.3", "text/csv"),
        ("", "application/xml", "application/json"),
        ("", "*/*;q=0.1, text/csv;q=0.2", "text/csv"),
        ("", "application/json;q=0.2, */*;q=0.9, text/csv;q=0.5", "text/csv"),
        ("", "text/csv;Q=0.1, application/json;q=0.5", "application/json"),
        ("", "text/csv; q=0.1, application/json;q=0.5", "application/json"),
        ("", "text/csv, application/json;q=1", "application/json"),  # a tie is JSON
        ("", "application/*, text/csv;q=0.5", "application/json"),
        ("", "application/*;q=0.9, text/csv;q=0.5", "application/json"),
        ("", "*/*;q=0.8, text/csv;q=0.5", "application/json"),
        ("", "*/*;q=0.1, application/*;q=0.9, text/csv;q=0.5", "application/json"),
    ],
)
def test_format_wins_over_accept(
    client: httpx.Client, query: str, accept: str | None, expected: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.get(f"{PATH}{query}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected


def test_no_accept_header_is_json(server: RunningServer) -> None:
    # Raw bytes: httpx always sends an Accept header.
    answer = send_raw(
        server.base_url, f"GET {PATH} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    )
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200 ") and b"content-type: application/json" in head


def test_unknown_format_is_a_400(client: httpx.Client) -> None:
    response = client.get(f"{PATH}?format=xml")
    assert response.status_code == 400
    assert response.json()["parameter"] == "format"


@pytest.mark.parametrize("kind", ["products", "reviewers"])
def test_csv_matches_the_oracle(client: httpx.Client, reviews: list[Review], kind: str) -> None:
    entity_id, expected_of = (
        ("ENDS", oracle.product_summary)
        if kind == "products"
        else (
            "TIE",
            oracle.reviewer_summary,
        )
    )
    response = client.get(f"/v1/{kind}/{entity_id}/reviews/summary?format=csv&to=2018-09-28")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert len(rows) == 2, "one header row, one data row"
    record = dict(zip(rows[0], rows[1], strict=True))
    expected = expected_of(reviews, entity_id, None, oracle.date(2018, 9, 28))
    assert expected is not None
    for stars, count in expected.pop("rating_distribution").items():
        assert record.pop(f"rating_{stars}") == str(count)
    period = expected.pop("period")
    assert (record.pop("period_from"), record.pop("period_to")) == ("", period["to"])
    for name, value in expected.items():
        cell = record.pop(name)
        assert cell == ("" if value is None else str(value)), name
    assert record == {}


def csv_record(response: httpx.Response) -> dict[str, str]:
    """The one data row of a CSV answer, by column, read as a spreadsheet would."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert len(rows) == 2, "one header row, one data row"
    return dict(zip(rows[0], rows[1], strict=True))


def expected_cells(body: dict[str, Any]) -> dict[str, str]:
    """The oracle's JSON body as CSV cells, in the documented column order: `period` and
    `rating_distribution` flattened where they stand, null an empty cell."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        if key == "period":
            flat["period_from"], flat["period_to"] = value["from"], value["to"]
        elif key == "rating_distribution":
            flat.update({f"rating_{stars}": count for stars, count in value.items()})
        else:
            flat[key] = value
    return {key: "" if value is None else str(value) for key, value in flat.items()}


CSV_CASES = {
    # A name with a comma, quotes and a line break; unverified and unknown-verified rows.
    "quoted name": ("reviewers", "CLOCK", None, None),
    "unverified rows": ("products", "CLOCK", oracle.date(2012, 2, 29), None),
    "null name": ("reviewers", "NAMELESS", None, None),
    # No review in the period: null average and dates are empty cells.
    "empty period": ("products", "ENDS", oracle.date(2004, 1, 1), oracle.date(2004, 1, 31)),
    "quotes in the id": ("products", 'say "hi"', None, None),
    "name with a comma": ("reviewers", "A00003XYZ", None, None),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_csv_cells_are_the_oracles_values(
    client: httpx.Client, reviews: list[Review], case: str
) -> None:
    kind, entity_id, date_from, date_to = CSV_CASES[case]
    oracle_of = oracle.product_summary if kind == "products" else oracle.reviewer_summary
    expected = oracle_of(reviews, entity_id, date_from, date_to)
    assert expected is not None
    url = summary_path(kind, entity_id, date_from, date_to)
    record = csv_record(client.get(url + ("&" if "?" in url else "?") + "format=csv"))
    assert list(record.items()) == list(expected_cells(expected).items())


def test_a_new_load_changes_the_tag(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Path
) -> None:
    """PostgreSQL: the data version (load id) is in the tag, so a reload of even the same
    rows invalidates what clients hold."""
    database = make_database()
    source = write_sqlite(tmp_path / "rows.sqlite", generate_reviews(50))
    run_cli("load", "--source", str(source), "--database-url", database.owner_url)
    server = start_server(database.reader_url, tmp_path / "server.log")
    try:
        with server.client() as client:
            path = "/v1/products/ONE-DAY/reviews/summary"
            before = client.get(path).headers["etag"]
            run_cli("load", "--source", str(source), "--database-url", database.owner_url)
            # The worker hears of the load by notification (or re-reads the version within a
            # second when it is not listening): poll, do not guess how long that takes.
            deadline = time.monotonic() + 10
            while (after := client.get(path, headers={"If-None-Match": before})).status_code == 304:
                assert time.monotonic() < deadline, "the tag did not change"
                time.sleep(0.05)
            assert after.status_code == 200
            assert after.headers["etag"] != before
            assert before.startswith('"1-') and after.headers["etag"].startswith('"2-')
    finally:
        stop_server(server)
