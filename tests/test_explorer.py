"""The explorer's page and assets over HTTP (what a browser is sent; what it does with them is
tests/test_explorer_browser.py): one origin, a strict Content-Security-Policy, fingerprinted
assets cached for a year, gzip where it pays, the HTML index of / for browsers."""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import RunningServer, start_server, stop_server

from service.http.web_assets import WebAssets, accepts_gzip

STATIC = Path(__file__).resolve().parent.parent / "service" / "http" / "static"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# src= and href= of the page, and `from "./x.js"` imports of its modules.
REFERENCE = re.compile(r'(?:src|href)="(/[^"]*)"|from "\./([^"]+)"')


@pytest.fixture(scope="module")
def web_server(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(sqlite_url, tmp_path_factory.mktemp("explorer") / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(web_server: RunningServer) -> Iterator[httpx.Client]:
    with web_server.client() as http:
        yield http


def references(text: str) -> set[str]:
    found = set()
    for url, module in REFERENCE.findall(text):
        found.add(url or f"/explore/assets/{module}")
    return found


def same_origin_assets(client: httpx.Client) -> set[str]:
    """Every asset the page leads to, following the modules' imports."""
    todo, seen = references(client.get("/explore").text), set()
    while todo:
        url = todo.pop()
        seen.add(url)
        if url.startswith("/explore/assets/") and url.endswith((".js", ".css")):
            todo |= references(client.get(url).text) - seen
    return {url for url in seen if url.startswith("/explore/assets/")}


def test_the_page_is_served_with_a_strict_policy(client: httpx.Client) -> None:
    response = client.get("/explore", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'self';")
    assert "unsafe" not in policy and "http" not in policy and "*" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    # Nothing inline for the policy to refuse, and nothing from elsewhere.
    assert "<script>" not in response.text and " style=" not in response.text
    assert not re.search(r"<[^>]*\son[a-z]+=", response.text)  # no inline event handler
    assert not re.search(r'(?:src|href)="(?:https?:)?//', response.text)


def test_the_page_is_revalidated_with_its_etag(client: httpx.Client) -> None:
    first = client.get("/explore")
    again = client.get("/explore", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]


def test_every_asset_is_fingerprinted_and_cached_for_a_year(client: httpx.Client) -> None:
    assets = same_origin_assets(client)
    names = {url.rsplit("/", 1)[1] for url in assets}
    assert {n.split(".")[0] for n in names} >= {
        "explorer", "api", "format", "monthly-chart", "uPlot", "favicon",
    }  # fmt: skip
    for url in assets:
        response = client.get(url, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        # The name's hex is a digest of the bytes served: a change is a new name.
        fingerprint = url.rsplit("/", 1)[1].split(".")[1]
        assert re.fullmatch(r"[0-9a-f]{10}", fingerprint), url
        assert hashlib.sha256(response.content).hexdigest()[:10] == fingerprint, url
        tag = response.headers["etag"]
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 304


@pytest.mark.parametrize("name", ["explorer.js", "uPlot.iife.min.js", "LICENSE", "../app.py"])
def test_an_unknown_or_unfingerprinted_name_is_a_404(client: httpx.Client, name: str) -> None:
    response = client.get(f"/explore/assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_text_assets_are_gzipped_where_it_pays(client: httpx.Client) -> None:
    scripts = [url for url in same_origin_assets(client) if url.endswith(".js")]
    for url in scripts:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as packed:
            raw = b"".join(packed.iter_raw())
            assert packed.headers["content-encoding"] == "gzip", url
            assert packed.headers["vary"] == "Accept-Encoding"
            assert packed.headers["etag"] == plain.headers["etag"]
        assert gzip.decompress(raw) == plain.content
        assert "content-encoding" not in plain.headers
    library = next(url for url in scripts if "/uPlot." in url)
    with client.stream("GET", library, headers={"Accept-Encoding": "gzip"}) as packed:
        assert len(b"".join(packed.iter_raw())) < 30_000  # 51 kB minified


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_encoding(header: str | None, gzipped: bool) -> None:
    assert accepts_gzip(header) is gzipped


def test_a_browser_gets_an_html_index_and_a_client_its_json(client: httpx.Client) -> None:
    page = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="/explore"' in page.text and 'href="/docs"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self';")
    assert "Accept" in page.headers["vary"]
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        answer = client.get("/", headers={"Accept": accept} if accept else {})
        assert answer.headers["content-type"] == "application/json", accept
        assert answer.json()["service"] == "reviews-api"
        assert answer.headers["vary"] == "Accept"
    paths = [route["path"] for route in client.get("/").json()["routes"]]
    assert "/explore" in paths


def test_the_documentation_links_to_the_explorer(client: httpx.Client) -> None:
    assert 'href="/explore"' in client.get("/docs").text


def test_the_chart_library_is_vendored_with_its_license() -> None:
    assert "MIT" in (STATIC / "uplot" / "LICENSE").read_text()
    version = (STATIC / "uplot" / "VERSION").read_text()
    assert re.search(r"uplot 1\.6\.\d+ from the npm registry", version)
    assert re.search(r"sha256 of uplot-[\d.]+\.tgz: [0-9a-f]{64}", version)


# --- Fingerprinting, on folders of its own ----------------------------------------------------


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def built(tmp_path: Path, files: dict[str, str]) -> WebAssets:
    page = write(tmp_path / "pages", {"page.html": '<script src="/explore/assets/main.js">'})
    return WebAssets([write(tmp_path / "assets", files)], {"page": page / "page.html"})


def test_a_change_deep_down_renames_what_leads_to_it(tmp_path: Path) -> None:
    files = {"main.js": 'import { f } from "./util.js";\n', "util.js": "export const f = 1;\n"}
    before = built(tmp_path / "a", files)
    after = built(tmp_path / "b", {**files, "util.js": "export const f = 2;\n"})
    assert before.url("util.js") != after.url("util.js")
    assert before.url("main.js") != after.url("main.js")  # its import names the new file
    main = before.assets[before.url("main.js").rsplit("/", 1)[1]].body.decode()
    assert f'from ".{before.url("util.js").removeprefix("/explore/assets")}"' in main
    assert before.url("main.js").encode() in before.pages["page"].body


def test_a_reference_to_a_missing_asset_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'gone\.js'"):
        built(tmp_path, {"main.js": 'import "./gone.js";\n'})


def test_assets_in_a_circle_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="circle"):
        built(tmp_path, {"main.js": 'import "./b.js";\n', "b.js": 'import "./main.js";\n'})
