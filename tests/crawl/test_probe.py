"""``top10 probe`` against the demo site: one load per configured source, what it saw, and the exit code."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tiktok_top10.crawl.probe import cli_main

pytestmark = pytest.mark.browser


def _probe(demo_site, tmp_path, monkeypatch, capsys, *args: str) -> tuple[int, dict]:
    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("TIKTOK_TOP10_SESSION_COOKIES", raising=False)
    code = cli_main(["--json", "--out", str(tmp_path / "shots"), *args])
    return code, json.loads(capsys.readouterr().out)


def test_probe_reports_each_source_and_exits_0_when_every_category_works(demo_site, tmp_path, monkeypatch, capsys):
    code, report = _probe(demo_site, tmp_path, monkeypatch, capsys, "--category", "tts", "--category", "dance")
    assert code == 0 and report["exit_code"] == 0
    by_path = {p["path"]: p for p in report["sources"]}
    assert list(by_path) == ["/tag/tts", "/tag/%EB%B0%88", "/search?q=tts%20%EC%A1%B0%ED%9A%8C%EC%88%98",
                             "/search?q=tts%20%EB%B0%88",
                             "/discover/%EC%A1%B0%ED%9A%8C%EC%88%98-%EB%A7%8E%EC%9D%B4-%EB%82%98%EC%98%A4%EB%8A%94-%EC%B6%A4-2025",
                             "/tag/%EC%B6%A4", "/search?q=%ED%8B%B1%ED%86%A1%20%EC%B6%A4"]
    for probe in by_path.values():
        assert probe["logged_in"] is False
        assert probe["used_by_crawl"] == (probe["kind"] != "search")  # logged out: searches are login-only
        assert probe["screenshot"] and Image.open(probe["screenshot"]).size[0] > 0
    tag = by_path["/tag/tts"]
    assert tag["works"] and tag["http_status"] == 200 and tag["items"] > 0
    assert tag["feed_endpoints"] == ["/api/challenge/item_list/"]
    discover = next(p for p in report["sources"] if p["kind"] == "discover")
    assert discover["works"] and discover["feed_endpoints"] == ["/api/recommend/item_list/"]
    assert not any(p["works"] for p in report["sources"] if p["kind"] == "search")


def test_probe_exits_4_when_a_category_has_no_working_source(demo_site, tmp_path, monkeypatch, capsys):
    override = {"categories": {"food": {"sources": [
        {"kind": "discover", "value": "no-such-page", "requires_login": False},
        {"kind": "search", "value": "음식 레시피", "requires_login": True}]}}}
    code, report = _probe(demo_site, tmp_path, monkeypatch, capsys, "--category", "food", "--category", "main",
                          "--sources-json", json.dumps(override))
    assert code == 4
    food = [p for p in report["sources"] if p["category"] == "food"]
    assert food[0]["http_status"] == 404 and food[0]["items"] == 0 and not food[0]["works"]
    assert food[1]["used_by_crawl"] is False  # even if it answered, the logged-out crawl would not use it
    assert any(p["works"] for p in report["sources"] if p["category"] == "main")


def test_probe_table_names_each_category_and_the_screenshot(demo_site, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", demo_site.base_url)
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    assert cli_main(["--category", "main"]) == 0
    out = capsys.readouterr().out
    assert "main: WORKS" in out and "/explore" in out and "screenshot: " + str(tmp_path / "data" / "probe") in out
    assert "logged in: no" in out and "exit 0" in out


@pytest.fixture(scope="module")
def gated_demo():
    from tiktok_top10.demo import DemoSite

    with DemoSite(port=0, search_requires_login=True) as site:
        yield site


SEARCH_ONLY = json.dumps({"categories": {"tts": {"sources": [
    {"kind": "search", "value": "tts 밈", "requires_login": False, "evidence": "a test's wrong belief"}]}}})


def test_probe_exits_3_when_the_only_source_wants_a_login(gated_demo, tmp_path, monkeypatch, capsys):
    code, report = _probe(gated_demo, tmp_path, monkeypatch, capsys, "--category", "tts", "--sources-json", SEARCH_ONLY)
    assert code == 3
    (probe,) = report["sources"]
    assert probe["error"] == "login_required" and probe["logged_in"] is False and not probe["works"]
    assert "First live run" in probe["message"]


def test_probe_with_a_session_cookie_is_logged_in_and_the_search_works(gated_demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", gated_demo.base_url)
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TIKTOK_TOP10_SESSION_COOKIES", "sessionid=demo-session")
    assert cli_main(["--json", "--category", "tts", "--sources-json", SEARCH_ONLY]) == 0
    (probe,) = json.loads(capsys.readouterr().out)["sources"]
    assert probe["logged_in"] is True and probe["works"] and probe["http_status"] == 200
    assert probe["feed_endpoints"][0] == "/api/search/general/full/"
