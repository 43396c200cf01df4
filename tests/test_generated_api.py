"""The API is generated from the SQL: the request path is generic, so no Python module of
the service (the loader and static assets aside) names what only the catalog may name."""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import BIN, free_port, run_cli, server_environment, start_server, stop_server
from postgres_server import ThrowawayDatabase
from review_rows import Review

from service.catalog import load_catalog
from service.store.sql_files import queries_dir

SERVICE = Path(__file__).resolve().parent.parent / "service"
CATALOG = load_catalog()


# Result columns whose names the request path also uses for a meaning of its own: an
# OpenAPI operation's `summary`; the data version and load time of the service's own lookup
# (queries/*/lookups.sql current_load), which the dataset summary reports too.
OWN_WORDS = {"summary", "data_version", "loaded_at"}


def names_only_the_catalog_may_say() -> set[str]:
    """Each endpoint's name, function, existence function, route, and result columns."""
    names: set[str] = set()
    for endpoint in CATALOG.endpoints:
        names |= {endpoint.name, endpoint.function.split("(")[0], endpoint.path}
        names |= {column.name for column in endpoint.columns}
        if endpoint.exists_name:
            names |= {endpoint.exists_name}
    return names - OWN_WORDS


def request_path_modules() -> list[Path]:
    return [path for path in SERVICE.rglob("*.py") if "load" not in path.relative_to(SERVICE).parts]


def test_the_catalog_has_the_endpoints_this_test_relies_on() -> None:
    assert len(CATALOG.endpoints) >= 2
    assert len(names_only_the_catalog_may_say()) > 20


@pytest.mark.parametrize(
    "module", request_path_modules(), ids=lambda p: str(p.relative_to(SERVICE))
)
def test_no_service_module_names_an_endpoint_a_function_or_a_column(module: Path) -> None:
    text = module.read_text()
    named = sorted(
        name
        for name in names_only_the_catalog_may_say()
        if re.search(rf"(?<![\w/]){re.escape(name)}(?![\w])", text)
    )
    assert not named, f"{module} names {named}: it belongs in the SQL (docs/api-catalog.md)"


def catalog_with_an_entry_sqlite_lacks(tmp_path: Path) -> Path:
    document = json.loads(queries_dir("catalog.json").read_text())
    entry = copy.deepcopy(document["endpoints"][0])
    entry["name"], entry["path"] = "entry_nobody_wrote", "/v1/nobody/{product_id}/wrote"
    document["endpoints"].append(entry)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    return path


def test_sqlite_refuses_to_start_naming_a_missing_query(sqlite_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "reviews-api"), "serve"],
        env=server_environment(
            sqlite_url, free_port(), API_CATALOG=str(catalog_with_an_entry_sqlite_lacks(tmp_path))
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no query entry_nobody_wrote in queries/sqlite/" in result.stdout + result.stderr


# A function the service's code has never seen, added the way README "Add an endpoint" says:
# a migration (outside the shipped ones), `reviews-api catalog`, the served route.
TEST_ONLY_MIGRATION = """
CREATE TYPE review_api.test_star_band AS ENUM ('low', 'high');

CREATE FUNCTION review_api.test_rating_reviews(
    rating_band review_api.test_star_band,
    on_or_after DATE DEFAULT NULL,
    max_rows INTEGER DEFAULT 3,
    wanted TEXT[] DEFAULT NULL
)
RETURNS TABLE (product_id TEXT, rating INTEGER, review_date DATE, verified BOOLEAN)
LANGUAGE sql
STABLE
AS $$
    SELECT r.product_id, r.rating::INTEGER, r.review_date, r.verified
    FROM review_api.reviews AS r
    WHERE
        (r.rating >= 4) = (test_rating_reviews.rating_band = 'high')
        AND r.review_date >= coalesce(test_rating_reviews.on_or_after, '-infinity'::DATE)
        AND (test_rating_reviews.wanted IS NULL OR r.product_id = ANY (test_rating_reviews.wanted))
    ORDER BY r.review_date, r.review_index
    LIMIT test_rating_reviews.max_rows
$$;

COMMENT ON FUNCTION review_api.test_rating_reviews(
    review_api.test_star_band, DATE, INTEGER, TEXT[]
) IS $$
The earliest reviews of a rating band.
A test-only endpoint: nothing in the service's code knows it.
@route GET /v1/test/bands/{rating_band}/reviews
@returns list
@param on_or_after since
@param max_rows limit
@param wanted product
@argument max_rows {"minimum": 1, "maximum": 10} How many reviews at most.
@argument wanted Only these products (repeat the parameter).
@column review_date {"type": ["string", "null"]} The review's day.
$$;

GRANT EXECUTE ON FUNCTION review_api.test_rating_reviews(
    review_api.test_star_band, DATE, INTEGER, TEXT[]
) TO reviews_reader;
"""


def expected_band(
    reviews: list[Review], band: str, since: str | None, limit: int, wanted: list[str] | None
) -> list[dict[str, Any]]:
    """The oracle of the test-only function, over the same rows."""
    chosen = [
        r
        for r in reviews
        if (r.overall >= 4) == (band == "high")
        and (since is None or r.day.isoformat() >= since)
        and (wanted is None or r.productID in wanted)
    ]
    chosen.sort(key=lambda r: (r.day, r.index))
    return [
        {
            "product_id": r.productID,
            "rating": r.overall,
            "review_date": r.day.isoformat(),
            "verified": None if r.verified is None else bool(r.verified),
        }
        for r in chosen[:limit]
    ]


def test_an_endpoint_added_with_sql_only(
    make_database: Callable[[], ThrowawayDatabase],
    sqlite_url: str,
    reviews: list[Review],
    tmp_path: Path,
) -> None:
    database = make_database()
    run_cli(
        "load",
        "--source",
        sqlite_url.removeprefix("sqlite:///"),
        "--database-url",
        database.owner_url,
    )
    with psycopg.connect(database.owner_url, autocommit=True) as connection:
        connection.execute(TEST_ONLY_MIGRATION)
    catalog = tmp_path / "catalog.json"
    run_cli("catalog", "--database-url", database.owner_url, "--output", str(catalog))
    server = start_server(database.reader_url, tmp_path / "server.log", API_CATALOG=str(catalog))
    try:
        with httpx.Client(base_url=server.base_url) as client:
            for band, query, since, limit, wanted in [
                ("high", "", None, 3, None),
                ("low", "?since=2015-01-01&limit=10", "2015-01-01", 10, None),
                ("high", "?product=ENDS&product=TIE&limit=10", None, 10, ["ENDS", "TIE"]),
            ]:
                response = client.get(f"/v1/test/bands/{band}/reviews{query}")
                assert response.status_code == 200, response.text
                assert response.json() == expected_band(reviews, band, since, limit, wanted)
            for bad in [
                "/v1/test/bands/middle/reviews",
                "/v1/test/bands/high/reviews?limit=11",
                "/v1/test/bands/high/reviews?since=2015-02-30",
            ]:
                response = client.get(bad)
                assert response.status_code == 400, (bad, response.text)
                assert response.headers["content-type"] == "application/problem+json"
            document = client.get("/openapi.json").json()
        operation = document["paths"]["/v1/test/bands/{rating_band}/reviews"]["get"]
        assert [(p["name"], p["in"]) for p in operation["parameters"]] == [
            ("rating_band", "path"),
            ("since", "query"),
            ("limit", "query"),
            ("product", "query"),
            ("format", "query"),
            ("If-None-Match", "header"),
        ]
        assert operation["parameters"][0]["schema"] == {"type": "string", "enum": ["low", "high"]}
        assert operation["parameters"][2]["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 10,
        }
        schema = document["components"]["schemas"]["TestRatingReviews"]
        assert schema["type"] == "array"
        assert list(schema["items"]["properties"]) == [
            "product_id",
            "rating",
            "review_date",
            "verified",
        ]
    finally:
        stop_server(server)


def test_postgres_is_not_ready_while_a_function_differs_from_the_catalog(
    postgres_url: str, tmp_path: Path
) -> None:
    """Deployed against a database migrated otherwise: readiness names the difference, the
    route concerned answers 503, the others still answer."""
    document = json.loads(queries_dir("catalog.json").read_text())
    changed = next(e for e in document["endpoints"] if e["path"].endswith("/monthly"))
    changed["columns"][1]["sql_type"] = "integer"  # review_count is a bigint in the database
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(document))
    server = start_server(postgres_url, tmp_path / "server.log", API_CATALOG=str(catalog))
    try:
        with httpx.Client(base_url=server.base_url) as client:
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            detail = ready.json()["detail"]
            assert changed["path"] in detail and "review_count" in detail, detail
            assert client.get(changed["path"].replace("{product_id}", "ENDS")).status_code == 503
            assert client.get("/v1/products/ENDS/reviews/summary").status_code == 200
    finally:
        stop_server(server)
    assert "does not match the API catalog" in server.log()


# Keyset pages and a batch, declared in SQL only (docs/api-catalog.md: @limit, @cursor,
# @hidden, @missing): the machinery must serve functions it has never seen.
TEST_ONLY_PAGES_AND_BATCH = """
CREATE FUNCTION review_api.test_votes_ranking(
    min_votes INTEGER DEFAULT 0,
    max_rows INTEGER DEFAULT 2,
    after_votes BIGINT DEFAULT NULL,
    after_index BIGINT DEFAULT NULL
)
RETURNS TABLE (review_index BIGINT, product_id TEXT, helpful_votes BIGINT)
LANGUAGE sql
STABLE
AS $$
    SELECT r.review_index, r.product_id, r.helpful_votes::BIGINT
    FROM review_api.reviews AS r
    WHERE
        r.helpful_votes >= test_votes_ranking.min_votes
        AND (
            test_votes_ranking.after_votes IS NULL
            OR (r.helpful_votes, r.review_index)
            < (test_votes_ranking.after_votes, test_votes_ranking.after_index)
        )
    ORDER BY r.helpful_votes DESC, r.review_index DESC
    LIMIT test_votes_ranking.max_rows
$$;

COMMENT ON FUNCTION review_api.test_votes_ranking(INTEGER, INTEGER, BIGINT, BIGINT) IS $$
Reviews by helpful votes, most first, in keyset pages.
@route GET /v1/test/votes
@param max_rows limit
@argument max_rows {"minimum": 1, "maximum": 50} Page size.
@argument min_votes {"enum": [0, 1, 5]} Fewest votes.
@limit max_rows
@cursor after: after_votes=helpful_votes after_index=review_index
$$;

CREATE FUNCTION review_api.test_product_counts(product_ids TEXT[])
RETURNS TABLE (product_id TEXT, review_count BIGINT)
LANGUAGE sql
STABLE
AS $$
    SELECT a.id, count(*)
    FROM unnest(test_product_counts.product_ids) WITH ORDINALITY AS a (id, n)
    JOIN review_api.reviews AS r ON r.product_id = a.id
    GROUP BY a.id
    ORDER BY min(a.n)
$$;

COMMENT ON FUNCTION review_api.test_product_counts(TEXT[]) IS $$
Review counts of a batch of products.
@route GET /v1/test/counts
@param product_ids product_id
@argument product_ids {"minItems": 1, "maxItems": 3, "items": {"maxLength": 64}} Products.
@items items
@missing not_found: product_ids product_id
$$;

GRANT EXECUTE ON FUNCTION review_api.test_votes_ranking(INTEGER, INTEGER, BIGINT, BIGINT),
review_api.test_product_counts(TEXT[]) TO reviews_reader;
"""


def with_cursor_version(url: str, version: str) -> str:
    """`url` with its `after` cursor (unsigned base64url JSON) made under load `version`."""
    path, _, query = url.partition("?")
    pairs = urllib.parse.parse_qsl(query)
    cursors = {name: value for name, value in pairs if name == "after"}
    text = cursors["after"]
    document = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    document["v"] = version
    cursor = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    changed = [(name, cursor if name == "after" else value) for name, value in pairs]
    return f"{path}?{urllib.parse.urlencode(changed)}"


def test_pages_and_batches_declared_in_sql(
    make_database: Callable[[], ThrowawayDatabase],
    sqlite_url: str,
    reviews: list[Review],
    tmp_path: Path,
) -> None:
    database = make_database()
    source = sqlite_url.removeprefix("sqlite:///")
    run_cli("load", "--source", source, "--database-url", database.owner_url)
    with psycopg.connect(database.owner_url, autocommit=True) as connection:
        connection.execute(TEST_ONLY_PAGES_AND_BATCH)
    catalog = tmp_path / "catalog.json"
    run_cli("catalog", "--database-url", database.owner_url, "--output", str(catalog))
    server = start_server(database.reader_url, tmp_path / "server.log", API_CATALOG=str(catalog))
    voted = sorted(
        (r for r in reviews if votes(r) >= 1), key=lambda r: (votes(r), r.index), reverse=True
    )
    expected = [
        {
            "review_index": r.index,
            "product_id": r.productID,
            "helpful_votes": int(r.vote.replace(",", "")),
        }
        for r in voted
    ]
    try:
        with httpx.Client(base_url=server.base_url) as client:
            walked, url, pages, cursor_urls = [], "/v1/test/votes?min_votes=1&limit=3", 0, []
            while url:
                response = client.get(url)
                assert response.status_code == 200, response.text
                page = response.json()
                walked += page["items"]
                pages += 1
                url = page["next"]
                if url:
                    assert response.headers["link"] == f'<{url}>; rel="next"'
                    cursor_urls.append(url)
            first_cursor_url = cursor_urls[0]
            assert walked == expected and pages == -(-len(expected) // 3)
            assert client.get("/v1/test/votes?min_votes=2").status_code == 400
            assert client.get("/v1/test/votes?after=garbage").status_code == 400
            other = first_cursor_url.replace("min_votes=1", "min_votes=5")
            assert client.get(other).status_code == 400  # a cursor of another request
            run_cli("load", "--source", source, "--database-url", database.owner_url)
            stale = wait_for_status(client, first_cursor_url, 409)
            assert stale.json()["type"] == "/problems/stale-cursor"
            # A cursor of a load this instance does not serve yet (another instance's,
            # whose standby replayed it first): come back, never a 409 nor older rows.
            ahead = client.get(with_cursor_version(first_cursor_url, "3"))
            assert (ahead.status_code, ahead.headers.get("retry-after")) == (503, "1")
            assert ahead.json()["type"] == "/problems/replica-behind"

            first, second = sorted({r.productID for r in reviews})[:2]
            asked = f"product_id={second}&product_id=NO-SUCH&product_id={first}"
            batch = client.get(f"/v1/test/counts?{asked}")
            assert batch.status_code == 200, batch.text
            count = {p: sum(1 for r in reviews if r.productID == p) for p in (first, second)}
            assert batch.json() == {
                "items": [
                    {"product_id": second, "review_count": count[second]},
                    {"product_id": first, "review_count": count[first]},
                ],
                "not_found": ["NO-SUCH"],
            }
            for bad in ["", "?product_id=A&product_id=B&product_id=C&product_id=D", "?product_id="]:
                assert client.get(f"/v1/test/counts{bad}").status_code == 400, bad
            document = client.get("/openapi.json").json()
        ranking = document["paths"]["/v1/test/votes"]["get"]
        assert [p["name"] for p in ranking["parameters"]] == [
            "min_votes",
            "limit",
            "after",
            "format",
            "If-None-Match",
        ]
        assert "409" in ranking["responses"]
        counts_schema = document["components"]["schemas"]["TestProductCounts"]
        assert counts_schema["required"] == ["items", "not_found"]
    finally:
        stop_server(server)


def votes(review: Review) -> int:
    return int(review.vote.replace(",", "")) if review.vote else 0


def wait_for_status(client: httpx.Client, url: str, status: int) -> httpx.Response:
    """The service hears of a load within a moment (LISTEN/NOTIFY)."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get(url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)
