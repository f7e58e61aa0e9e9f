import json

import pytest

from tiktok_top10.config import CATEGORIES
from tiktok_top10.crawl import load_sources


def test_packaged_sources_cover_every_category_with_the_originals_pacing():
    sources = load_sources(None)
    assert set(sources) == set(CATEGORIES)
    assert sources["tts"].paths() == ["/search?q=tts%20%EC%A1%B0%ED%9A%8C%EC%88%98", "/search?q=tts%20%EB%B0%88"]
    assert "/explore" in sources["main"].paths()
    live = sources["dance"].pacing_for("tiktok")
    assert (live.reloads, live.scrolls) == (5, 15)


def test_override_replaces_one_category_and_merges_pacing():
    override = {"pacing": {"demo": {"scrolls": 3}}, "categories": {"food": {"tags": ["#먹방"], "pacing": {"tiktok": {"reloads": 2}}}}}
    sources = load_sources(json.dumps(override))
    assert sources["food"].paths() == ["/tag/%EB%A8%B9%EB%B0%A9"]
    assert sources["food"].pacing_for("tiktok").reloads == 2 and sources["food"].pacing_for("tiktok").scrolls == 15
    assert sources["main"].pacing_for("demo").scrolls == 3 and sources["main"].pacing_for("demo").reloads == 1
    assert sources["dance"].paths() == load_sources(None)["dance"].paths()


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
    ],
)
def test_invalid_override_fails_with_a_message_naming_the_problem(override, message):
    with pytest.raises(ValueError, match=message):
        load_sources(override)


def test_empty_override_means_packaged_sources():
    assert load_sources("  ") == load_sources(None)
