"""The CLI contract (exit codes, JSON summary) and the DAG's stage function, end to end on real Chromium."""

import datetime as dt
import json

import pytest

from tiktok_top10.cli import main as top10
from tiktok_top10.config import Settings
from tiktok_top10.crawl import CaptchaBlocked, run_crawl
from tiktok_top10.storage import DayLayout, read_json, read_jsonl

from .hostile_site import PAGE_SIZE, PAGES


@pytest.fixture
def env(monkeypatch, tmp_path, site):
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TIKTOK_TOP10_DEMO_URL", site.base_url)
    return tmp_path


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["music", "--out", "x"],
        ["main"],
        ["main", "--out", "x", "--reloads", "0"],
        ["main", "--out", "x", "--min-views", "-1"],
        ["main", "--out", "x", "--day", "2026-13-01"],
        ["main", "--out", "x", "--sources-json", '{"categories": {"main": {}}}'],
    ],
)
def test_bad_arguments_exit_2_without_starting_a_browser(argv, env, capsys):
    assert top10(["crawl", *argv]) == 2
    assert not (env / "data" / "browser-profiles").exists()


@pytest.mark.browser
@pytest.mark.parametrize("scenario, code", [("ok", 0), ("captcha-1", 3), ("status-10114", 3), ("status-10102", 3),
                                            ("status-10204", 4), ("empty", 4)])
def test_exit_codes_and_printed_summary(scenario, code, env, site, capsys):
    out = env / "out"
    rc = top10(
        ["crawl", "food", "--out", str(out), "--url", f"/feed/{scenario}", "--scrolls", "6", "--day", "2026-01-10"]
    )
    printed = json.loads(capsys.readouterr().out)
    assert rc == code
    if code == 0:
        assert printed["items_kept"] == len(list(read_jsonl(out / "items.jsonl"))) == PAGE_SIZE * PAGES - 5
        assert (
            printed["below_min_views"] == 1 and printed["malformed"] == 2 and printed["download_failed_http_404"] == 1
        )
        assert all("demo_day=2026-01-10" in c for c in site.cookies)
    else:
        reason = {"status-10102": "login_required", "status-10204": "empty", "empty": "empty"}.get(scenario, "captcha")
        assert printed["error"] == reason and printed["artifacts"]


def test_crawl_help_prints_the_error_table(capsys):
    from tiktok_top10.crawl.errors import ERROR_TABLE

    assert top10(["crawl", "--help"]) == 0
    out = capsys.readouterr().out
    for row in ERROR_TABLE:
        assert f"{row.exit_code}  {row.error.__name__} ({row.error.reason})" in out
    assert "LoginRequired (login_required): no retry" in out and "IpBlocked" not in out


@pytest.mark.browser
def test_run_crawl_writes_the_day_layout_dedups_across_sources_and_sends_the_demo_day(site, tmp_path):
    settings = Settings(data_root=tmp_path, source="demo", demo_url=site.base_url, min_views=100_000)
    day = dt.date(2026, 1, 11)
    override = json.dumps({"categories": {"main": {"discover": ["조회수"], "explore": True}}})
    path = run_crawl(settings, day, "main", sources_override=override, cookies=[{"name": "msToken", "value": "t0k"}])
    layout = DayLayout(tmp_path, day)
    assert path == layout.raw_items("main")
    rows = list(read_jsonl(path))
    assert len(rows) == PAGE_SIZE * PAGES - 5  # both sources served the same feed: one row per id
    summary = read_json(layout.raw_dir("main") / "crawl_summary.json")
    assert summary["sources"] == 2 and summary["items_seen"] == 2 * 37  # 36 ids + the repeat of item 0, per source
    assert summary["duplicates_in_category"] == 2 * 37 - 36
    # flat for the manifest, apart from the per-source records
    assert not [k for k, v in summary.items() if isinstance(v, (dict, list)) and k != "per_source"]
    assert {r["source_url"] for r in rows} <= {site.url("/discover/%EC%A1%B0%ED%9A%8C%EC%88%98"), site.url("/explore")}
    assert all("demo_day=2026-01-11" in c and "msToken=t0k" in c for c in site.cookies)
    assert (tmp_path / "browser-profiles").is_dir()

    # a blocked rerun fails with a retryable error and leaves the first output as it was
    before = path.read_bytes()
    with pytest.raises(CaptchaBlocked):
        run_crawl(settings, day, "main", sources_override=json.dumps({"categories": {"main": {"tags": ["captcha-1"]}}}))
    assert path.read_bytes() == before
    assert list((layout.raw_dir("main") / "failures").glob("*captcha*.png"))


def test_run_crawl_rejects_unknown_categories_before_starting_a_browser(tmp_path):
    with pytest.raises(ValueError, match="categories.music"):
        run_crawl(
            Settings(data_root=tmp_path),
            dt.date(2026, 1, 1),
            "main",
            sources_override='{"categories": {"music": {"search": ["x"]}}}',
        )
