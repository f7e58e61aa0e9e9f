import datetime as dt
import json
import re

import httpx
import pytest

from tiktok_top10.config import CATEGORIES, SOURCES
from tiktok_top10.crawl import load_sources
from tiktok_top10.crawl.browser import SourceStats
from tiktok_top10.crawl.sources import SKIP_LOGIN_REQUIRED, source_records
from tiktok_top10.demo import generate_day

DAY = dt.date(2026, 1, 10)


def test_packaged_sources_mark_searches_login_only_and_keep_a_logged_out_source_everywhere():
    sources = load_sources(None)
    assert set(sources) == set(CATEGORIES)
    for category, spec in sources.items():
        assert all(s.requires_login == (s.kind == "search") for s in spec.sources), category
        assert all(s.evidence for s in spec.sources), category  # every source says why it is there
        for site in SOURCES:
            logged_out = spec.plan(site, logged_in=False)
            assert logged_out.crawl and all(not s.requires_login for s in logged_out.crawl), (category, site)
            assert all(reason == SKIP_LOGIN_REQUIRED and s.kind == "search" for s, reason in logged_out.skipped)
            logged_in = spec.plan(site, logged_in=True)
            assert not logged_in.skipped and len(logged_in.crawl) == len(spec.for_site(site))
    assert sources["tts"].plan("tiktok", logged_in=False).paths == ["/tag/tts", "/tag/%EB%B0%88"]
    assert [s.path for s, _ in sources["tts"].plan("tiktok", logged_in=False).skipped] == [
        "/search?q=tts%20%EC%A1%B0%ED%9A%8C%EC%88%98", "/search?q=tts%20%EB%B0%88"]
    assert sources["main"].paths() == [
        "/discover/%ED%8B%B1%ED%86%A1-%EC%A1%B0%ED%9A%8C%EC%88%98-%EB%A7%8E%EC%9D%80-%EC%88%9C%EC%9C%BC%EB%A1%9C-%EC%A0%95%EB%A0%AC",
        "/explore"]
    live = sources["dance"].pacing_for("tiktok")
    assert (live.reloads, live.scrolls) == (5, 15)


def _walk(client, path: str) -> list[str]:
    """Every item id the demo serves for a source page, following its feed to the end."""
    page = client.get(path)
    assert page.status_code == 200, path
    feed = json.loads(re.search(r"const FEED = (\{.*?\});", page.text).group(1))
    param = "offset" if feed["kind"] == "search" else "cursor"
    ids, base, cursor = [], feed["first"], "0"
    for _ in range(50):
        body = client.get(f"{base}&{param}={cursor}").json()
        batch = (body.get("itemList") or body.get("item_list")
                 or [d["item"] for d in body.get("data", []) if d["type"] == 1])
        ids += [it["id"] for it in batch]
        if not (body.get("hasMore") or body.get("has_more")):
            return ids
        base, cursor = feed["next"], str(body["cursor"])
    raise AssertionError(f"{path}: feed never ended")


def test_the_demos_logged_out_sources_serve_every_item_of_each_category(demo_site):
    """`make run` is logged out: without the searches, each category's other sources must still list all of it."""
    demo = generate_day(DAY)
    sources = load_sources(None)
    with httpx.Client(base_url=demo_site.base_url, cookies={"demo_day": DAY.isoformat()}, timeout=30) as client:
        for category in CATEGORIES:
            plan = sources[category].plan("demo", logged_in=False)
            served = {i for path in plan.paths for i in _walk(client, path)}
            assert served == {it.id for it in demo.items[category]}, category


def test_old_shape_is_still_read_with_searches_taken_as_login_only():
    override = {"pacing": {"demo": {"scrolls": 3}},
                "categories": {"food": {"tags": ["#먹방"], "search": ["음식"], "pacing": {"tiktok": {"reloads": 2}}}}}
    sources = load_sources(json.dumps(override))
    food = sources["food"]
    assert food.paths() == ["/search?q=%EC%9D%8C%EC%8B%9D", "/tag/%EB%A8%B9%EB%B0%A9"]
    assert food.plan("tiktok", logged_in=False).paths == ["/tag/%EB%A8%B9%EB%B0%A9"]
    assert food.plan("tiktok", logged_in=True).paths == food.paths()
    assert food.pacing_for("tiktok").reloads == 2 and food.pacing_for("tiktok").scrolls == 15
    assert sources["main"].pacing_for("demo").scrolls == 3 and sources["main"].pacing_for("demo").reloads == 1
    assert sources["dance"].paths() == load_sources(None)["dance"].paths()


def test_new_shape_override_with_a_search_seen_working_logged_out():
    override = {"categories": {"tts": {"sources": [
        {"kind": "search", "value": "tts 밈", "requires_login": False, "evidence": "worked logged out on 2026-11-30"},
        {"kind": "tag", "value": "#tts", "requires_login": False, "sites": ["tiktok"]}]}}}
    tts = load_sources(json.dumps(override))["tts"]
    assert tts.plan("tiktok", logged_in=False).paths == ["/search?q=tts%20%EB%B0%88", "/tag/tts"]
    assert tts.plan("demo", logged_in=False).paths == ["/search?q=tts%20%EB%B0%88"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("{not json", "not valid JSON"),
        ('{"categories": {"music": {"search": ["x"]}}}', "categories.music"),
        ('{"categories": {"food": {}}}', "has no sources"),
        ('{"categories": {"food": {"search": "음식"}}}', "categories.food.search"),
        ('{"categories": {"food": {"serach": ["음식"]}}}', "unknown keys"),
        ('{"pacing": {"tiktok": {"reloads": 0}}}', "pacing.tiktok.reloads"),
        ('{"pacing": {"tiktok": {"scrolls": true}}}', "pacing.tiktok.scrolls"),
        ('{"pacing": {"youtube": {"scrolls": 1}}}', "unknown source"),
        ('["main"]', "must be an object"),
        # an old-shape category that only searches has nothing to crawl logged out: say what to add
        ('{"categories": {"tts": {"search": ["tts 밈"]}}}',
         r"categories.tts: no source works logged out on '(demo|tiktok)'.*add a tag, discover or explore source"),
        ('{"categories": {"tts": {"search": ["x"], "sources": []}}}', "mixes the old keys"),
        ('{"categories": {"tts": {"sources": [{"kind": "tag", "value": "tts"}]}}}', r"sources\[0\].requires_login"),
        ('{"categories": {"tts": {"sources": [{"kind": "hashtag", "value": "tts", "requires_login": false}]}}}',
         r"sources\[0\].kind"),
        ('{"categories": {"tts": {"sources": [{"kind": "tag", "value": " ", "requires_login": false}]}}}',
         r"sources\[0\].value"),
        ('{"categories": {"tts": {"sources": [{"kind": "tag", "value": "a", "requires_login": false, '
         '"sites": ["web"]}]}}}',
         r"sources\[0\].sites"),
        ('{"categories": {"tts": {"sources": [{"kind": "tag", "value": "a", "requires_login": false}, '
         '{"kind": "tag", "value": "#a", "requires_login": false}]}}}', "lists /tag/a twice"),
    ],
)
def test_invalid_override_fails_with_a_message_naming_the_problem(override, message):
    with pytest.raises(ValueError, match=message):
        load_sources(override)


def test_empty_override_means_packaged_sources():
    assert load_sources("  ") == load_sources(None)


def test_per_source_record_carries_the_browsers_counters_and_the_skips():
    plan = load_sources(None)["dance"].plan("tiktok", logged_in=False)
    discover, tag = plan.crawl
    stats = [SourceStats(f"https://www.tiktok.com{discover.path}", loads=5, items=40),
             SourceStats(f"https://www.tiktok.com{tag.path}", loads=5, items=0)]
    records = source_records(plan, stats)
    assert [r["path"] for r in records] == [discover.path, tag.path, "/search?q=%ED%8B%B1%ED%86%A1%20%EC%B6%A4"]
    assert records[0]["crawled"] and records[0]["loads"] == 5 and records[0]["items"] == 40
    assert records[0]["requires_login"] is False and records[0]["skipped"] is None
    assert records[2] == {"path": "/search?q=%ED%8B%B1%ED%86%A1%20%EC%B6%A4", "kind": "search", "value": "틱톡 춤",
                          "requires_login": True, "crawled": False, "skipped": SKIP_LOGIN_REQUIRED}
    json.dumps(records)  # goes into crawl_summary.json as it is
