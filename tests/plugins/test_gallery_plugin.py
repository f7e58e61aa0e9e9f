"""The gallery plugin on a real ``airflow api-server``: auth, navigation entry, pages, files, zips, traversal."""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import zipfile
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tiktok_top10.config import CATEGORIES

from .conftest import (
    COMPLETE_DAY,
    NEXT_DAY,
    NEXT_DUPLICATE,
    NEXT_FOREIGN,
    PARTIAL_DAY,
    PNG_COVER,
    UNSEEN_VIDEO,
    VENV_BIN,
    complete_day_url,
)

pytestmark = pytest.mark.airflow
PREFIX = "/top10-gallery"


@pytest.fixture(scope="module")
def client(api_server):
    with httpx.Client(base_url=api_server.base_url, headers={"Authorization": f"Bearer {api_server.token()}"}) as c:
        yield c


def raw_get(api_server, path: str, token: str | None) -> int:
    """Send the path byte-for-byte (httpx would normalise ``..`` and ``%2F`` away before the server saw them)."""
    parts = urlsplit(api_server.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("GET", path, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize("path", ["/", "/api/days", f"/files/{COMPLETE_DAY}/main/thumbnails/main01.jpg",
                                  f"/download/{COMPLETE_DAY}.zip", f"/download/{COMPLETE_DAY}/main.zip",
                                  f"/explain?video={NEXT_DUPLICATE}", f"/api/explain?video={NEXT_DUPLICATE}",
                                  f"/compare/{NEXT_DAY}/main"])
def test_unauthenticated_client_gets_401(api_server, path):
    resp = httpx.get(f"{api_server.base_url}{PREFIX}{path}")
    assert resp.status_code == 401


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_no_unprotected_docs_routes(api_server, path):
    assert httpx.get(f"{api_server.base_url}{PREFIX}{path}").status_code in (401, 404)


def test_unauthenticated_browser_is_sent_to_login(api_server):
    resp = httpx.get(f"{api_server.base_url}{PREFIX}/", headers={"Accept": "text/html"})
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/auth/login?next=")


def test_forged_token_is_refused(api_server):
    resp = httpx.get(f"{api_server.base_url}{PREFIX}/api/days", headers={"Authorization": "Bearer abc.def.ghi"})
    assert resp.status_code in (401, 403)


def test_ui_cookie_session_is_accepted(api_server):
    resp = httpx.get(f"{api_server.base_url}{PREFIX}/api/days", cookies={"_token": api_server.token()})
    assert resp.status_code == 200


def test_plugin_registers_app_and_navigation_entry(client):
    plugins = client.get("/api/v2/plugins").json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "tiktok_top10_gallery"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == PREFIX
    (view,) = plugin["external_views"]
    assert view["href"] == f"{PREFIX}/" and view["destination"] == "nav" and view["url_route"] == "top10"


def test_days_api_lists_published_days_with_latest(client):
    assert client.get(f"{PREFIX}/api/days").json() == {"days": [NEXT_DAY, COMPLETE_DAY, PARTIAL_DAY],
                                                       "latest": COMPLETE_DAY}
    day = client.get(f"{PREFIX}/api/days/{PARTIAL_DAY}").json()
    assert day["manifest"]["status"] == "partial" and list(day["top10"]) == ["main", "dance"]
    assert client.get(f"{PREFIX}/api/days/2020-01-01").status_code == 404
    assert client.get(f"{PREFIX}/api/days/yesterday").status_code == 400


def test_page_defaults_to_latest_and_shows_fifty_covers_and_report(client):
    page = client.get(f"{PREFIX}/").text
    assert f"Top-10 · {COMPLETE_DAY}" in page
    assert page.count("<img ") == 50
    for category in CATEGORIES:
        assert f"{PREFIX}/download/{COMPLETE_DAY}/{category}.zip" in page
    assert "efficientnet-lite0" in page and "translation_api_requests" in page
    assert "Duplicates removed (1)" in page and "Not Korean, rejected (1)" in page
    assert "dance/7400000000000000555 (similarity 0.931)" in page
    assert "<td>tts/7400000000000000999</td><td>ja</td><td>title</td><td>lingua</td>" in page
    older = client.get(f"{PREFIX}/", params={"day": PARTIAL_DAY}).text
    assert older.count("<img ") == 20 and "partial" in older
    assert "removed dance/7400000000000000555</li>" in older


def test_thumbnails_are_real_images_with_sniffed_content_types(client):
    resp = client.get(f"{PREFIX}/files/{COMPLETE_DAY}/main/thumbnails/main01.jpg")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(resp.content)).size == (270, 480)
    category, rank = PNG_COVER
    png = client.get(f"{PREFIX}/files/{COMPLETE_DAY}/{category}/thumbnails/{category}{rank:02d}.jpg")
    assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).format == "PNG"
    top10 = client.get(f"{PREFIX}/files/{COMPLETE_DAY}/tts/tts_top10.json")
    assert top10.headers["content-type"] == "application/json" and len(top10.json()) == 10


def test_zip_downloads(client):
    day = client.get(f"{PREFIX}/download/{COMPLETE_DAY}.zip")
    assert day.headers["content-type"] == "application/zip"
    assert f'filename="tiktok_top10_{COMPLETE_DAY}.zip"' in day.headers["content-disposition"]
    assert len(zipfile.ZipFile(io.BytesIO(day.content)).namelist()) == 56
    cat = client.get(f"{PREFIX}/download/{COMPLETE_DAY}/food.zip")
    assert len(zipfile.ZipFile(io.BytesIO(cat.content)).namelist()) == 11
    assert client.get(f"{PREFIX}/download/{PARTIAL_DAY}/food.zip").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        f"{PREFIX}/files/{COMPLETE_DAY}/main/../../latest.json",
        f"{PREFIX}/files/{COMPLETE_DAY}/main/thumbnails/..%2F..%2F..%2Fmanifest.json",
        f"{PREFIX}/files/{COMPLETE_DAY}/main/%2E%2E%2F%2E%2E%2Fmanifest.json",
        f"{PREFIX}/files/{COMPLETE_DAY}/main/thumbnails/%2e%2e",
        f"{PREFIX}/files/..%2F..%2Fetc/main/passwd",
        f"{PREFIX}/files/{PARTIAL_DAY}/work/dedup.jsonl",
        f"{PREFIX}/files/{COMPLETE_DAY}/main/thumbnails/escape.jpg",
        f"{PREFIX}/files/2026-01-08/main/main_top10.json",
        f"{PREFIX}/download/..%2F{COMPLETE_DAY}.zip",
    ],
)
def test_paths_cannot_leave_the_published_folders(api_server, path):
    token = api_server.token()
    status = raw_get(api_server, path, token)
    assert status in (400, 404), f"{path} -> {status}"
    assert raw_get(api_server, f"{PREFIX}/files/{COMPLETE_DAY}/main/main_top10.json", token) == 200


@pytest.mark.parametrize("video, outcome, code", [
    (complete_day_url("main", 3), "published", 0),  # by URL: NEXT_DAY's main #1
    ("7410000000000000004", "published", 0),  # the re-upload of COMPLETE_DAY's main #2
    (NEXT_DUPLICATE, "duplicate", 0),
    (NEXT_FOREIGN, "not_korean", 0),
    (UNSEEN_VIDEO, None, 1),
])
def test_api_explain_answers_what_the_top10_explain_command_prints(client, published_root, video, outcome, code):
    cli = subprocess.run([str(VENV_BIN / "top10"), "explain", video, "--day", NEXT_DAY, "--json"],
                         env={**os.environ, "TIKTOK_TOP10_DATA_ROOT": str(published_root)},
                         capture_output=True, text=True, timeout=120)
    text = subprocess.run([str(VENV_BIN / "top10"), "explain", video, "--day", NEXT_DAY],
                          env={**os.environ, "TIKTOK_TOP10_DATA_ROOT": str(published_root)},
                          capture_output=True, text=True, timeout=120)
    resp = client.get(f"{PREFIX}/api/explain", params={"video": video, "day": NEXT_DAY})
    assert resp.status_code == 200
    answer = resp.json()
    assert answer.pop("exit_code") == cli.returncode == text.returncode == code
    assert answer.pop("text") == text.stdout.rstrip("\n")
    assert answer == json.loads(cli.stdout)
    assert [o["outcome"] for o in answer["outcomes"]] == ([outcome] if outcome else [])


def test_explain_and_day_over_day_pages(client):
    bad = [client.get(f"{PREFIX}/api/explain", params={"video": "no-such-thing", "day": NEXT_DAY}),
           client.get(f"{PREFIX}/api/explain", params={"video": NEXT_DUPLICATE, "day": "yesterday"}),
           client.get(f"{PREFIX}/explain", params={"video": "no-such-thing"})]
    assert [r.status_code for r in bad] == [400, 400, 400]
    assert "not a TikTok video id or URL" in bad[0].json()["detail"]
    # without a day: the latest published day (COMPLETE_DAY, which never saw the duplicate)
    assert client.get(f"{PREFIX}/api/explain", params={"video": NEXT_DUPLICATE}).json()["day"] == COMPLETE_DAY
    empty = client.get(f"{PREFIX}/explain")
    assert empty.status_code == 200 and 'id="explain-search"' in empty.text and "explain-answer" not in empty.text
    page = client.get(f"{PREFIX}/explain", params={"video": NEXT_DUPLICATE, "day": NEXT_DAY})
    assert page.status_code == 200 and '<span class="outcome duplicate">duplicate</span>' in page.text
    compare = client.get(f"{PREFIX}/compare/{NEXT_DAY}/main")
    assert compare.status_code == 200 and f"{COMPLETE_DAY} → {NEXT_DAY}: 6 new, 6 dropped out" in compare.text
    assert client.get(f"{PREFIX}/compare/{NEXT_DAY}/food").status_code == 404
    assert client.get(f"{PREFIX}/compare/{NEXT_DAY}/cooking").status_code == 400
    assert client.get(f"{PREFIX}/compare/2026-02-30/main").status_code == 400
