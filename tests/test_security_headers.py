"""Security headers and a CDN-free ``/docs``, checked on a real ``seawall serve`` over a socket."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.processes import running_server, seawall_env


class _Refs(HTMLParser):
    """Every URL a page makes the browser load: script/img/iframe ``src`` and link ``href``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and ((name == "src") or (tag == "link" and name == "href")):
                self.urls.append(value)
            if value and name.startswith("data-") and name.endswith("-url"):
                self.urls.append(value)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("headers")
    # headers do not depend on the models a server warms up in the background (tests/test_warm_start.py)
    with running_server(seawall_env(data, SEAWALL_WARM_UP="false")) as url:
        yield url


def test_docs_loads_only_same_origin_assets(base: str) -> None:
    r = httpx.get(f"{base}/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _Refs()
    refs.feed(r.text)
    assert len(refs.urls) >= 4, refs.urls  # stylesheet, icon, bundle, initialiser, openapi document
    for url in refs.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url  # same origin, no CDN
        got = httpx.get(f"{base}{url}")
        assert got.status_code == 200 and got.content, url
    assert "/docs/assets/swagger-ui-bundle.js" in refs.urls and "/openapi.json" in refs.urls
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src" not in csp  # scripts: same origin only, none inline
    assert "<script>" not in r.text.replace(" ", "")
    assert httpx.get(f"{base}/redoc").status_code == 404  # its default page also came from a CDN


@pytest.mark.parametrize("path", ["/console/login", "/", "/docs", "/healthz", "/v1/banks", "/nope",
                                  "/static/console.css", "/docs/assets/swagger-ui.css"])
def test_every_response_has_nosniff_and_no_referrer(base: str, path: str) -> None:
    r = httpx.get(f"{base}{path}")
    assert r.headers["x-content-type-options"] == "nosniff", path
    assert r.headers["referrer-policy"] == "no-referrer", path
    if r.headers.get("content-type", "").startswith("text/html"):
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path


def test_console_keeps_its_own_csp(base: str) -> None:
    r = httpx.get(f"{base}/console/login")
    assert r.status_code == 200
    assert r.headers.get_list("content-security-policy") == [r.headers["content-security-policy"]]
    assert "form-action 'self'" in r.headers["content-security-policy"]
