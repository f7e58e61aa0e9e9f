import datetime as dt
import io
import re
from collections import Counter

import pytest
from PIL import Image

from tiktok_top10.config import CATEGORIES
from tiktok_top10.demo import DEMO_SOURCES, expected_top10, generate_day
from tiktok_top10.demo.captions import CAPTION_KINDS
from tiktok_top10.demo.covers import EDITS, cover_bytes
from tiktok_top10.demo.generator import round_count
from tiktok_top10.demo.server import MAX_PAGE, page_size

DAY = dt.date(2026, 1, 10)
OTHER_DAY = dt.date(2026, 1, 11)
DAYS = [DAY, OTHER_DAY, dt.date(2025, 12, 31), dt.date(2026, 3, 1)]


def _fresh(day, seed=7):
    return generate_day.__wrapped__(day, seed)  # bypass the cache: really generate twice


def test_same_seed_and_day_give_identical_items_and_cover_bytes():
    a, b = _fresh(DAY), _fresh(DAY)
    assert [it.item for it in a.all_items()] == [it.item for it in b.all_items()]
    assert [(it.video_key, it.korean, it.cover) for it in a.all_items()] == \
           [(it.video_key, it.korean, it.cover) for it in b.all_items()]
    for item in a.all_items()[:40:8]:
        assert cover_bytes.__wrapped__(item.cover) == cover_bytes.__wrapped__(b.covers[item.cover_name])


def test_other_day_or_seed_gives_other_content():
    base = {it.id for it in generate_day(DAY).all_items()}
    assert base.isdisjoint({it.id for it in generate_day(OTHER_DAY).all_items()})
    assert base.isdisjoint({it.id for it in generate_day(DAY, seed=8).all_items()})
    other = generate_day(OTHER_DAY)
    scene_a = generate_day(DAY).all_items()[0].cover
    assert cover_bytes(scene_a) != cover_bytes(other.all_items()[0].cover)


def test_items_have_tiktok_shape():
    demo = generate_day(DAY)
    for cat in CATEGORIES:
        assert 180 <= len(demo.items[cat]) <= 220
        assert len({it.id for it in demo.items[cat]}) == len(demo.items[cat])
    for it in demo.all_items():
        item = it.item
        assert re.fullmatch(r"7\d{18}", item["id"])
        assert set(item["author"]) == {"id", "uniqueId", "nickname", "secUid", "verified"}
        assert set(item["stats"]) == set(item["statsV2"]) == {"playCount", "diggCount", "shareCount",
                                                             "commentCount", "collectCount"}
        for key, exact in item["statsV2"].items():
            assert isinstance(exact, str) and exact.isdigit()
            assert item["stats"][key] == round_count(int(exact))
        assert set(item["video"]) >= {"cover", "originCover", "dynamicCover", "playAddr", "duration", "width",
                                      "height"}
        assert it.cover_path == f"/covers/{DAY.isoformat()}/{it.cover_name}.jpg"
        if it.is_photo:  # photo posts: cover in imagePost, an empty video, their own URL
            assert item["video"]["cover"] == "" and item["imagePost"]["cover"]["imageURL"]["urlList"] == [it.cover_path]
            assert it.url == f"https://www.tiktok.com/@{item['author']['uniqueId']}/photo/{it.id}"
        else:
            assert item["video"]["cover"] == it.cover_path and "/video/" in it.url
        for extra in item["textExtra"]:
            assert item["desc"][extra["start"]:extra["end"]] == "#" + extra["hashtagName"]
        assert [c["title"] for c in item["challenges"]] == [e["hashtagName"] for e in item["textExtra"]]
        assert isinstance(item["isAd"], bool) and isinstance(item["createTime"], int)
    photos = [it for it in demo.all_items() if it.is_photo]
    assert 10 <= len(photos) <= 80  # about 1 in 25


def test_round_count_keeps_two_significant_digits():
    assert round_count(1_585_253) == 1_600_000
    assert round_count(94_499) == 94_000
    assert round_count(999) == 999


def test_day_has_every_case_the_pipeline_must_handle():
    demo = generate_day(DAY)
    items = demo.all_items()
    under = sum(it.views < 100_000 for it in items) / len(items)
    assert 0.18 <= under <= 0.32
    assert {k for k, _, _ in CAPTION_KINDS} <= {it.caption_kind for it in items}
    assert {"ok", "png", "truncated", "missing", "html"} <= {it.cover_status for it in items}
    assert sum(it.is_ad for it in items) >= 5
    ids = Counter(it.id for it in items)
    shared = [vid for vid, n in ids.items() if n == 2]
    assert len(shared) >= 10
    reuploads = [it for it in items if it.reupload_of]
    assert len(reuploads) >= 30
    assert set(EDITS) <= {e for it in reuploads for e in it.cover.edits}
    by_id = {it.id: it for it in items}
    for copy in reuploads:
        orig = by_id[copy.reupload_of]
        assert copy.id != orig.id and copy.video_key == orig.video_key and copy.korean == orig.korean
        assert copy.cover.scene == orig.cover.scene and copy.cover_name != orig.cover_name
    assert any(by_id[c.reupload_of].category != c.category for c in reuploads)


def test_broken_covers_are_broken_as_declared():
    demo = generate_day(DAY)
    first = {}
    for it in demo.all_items():
        if not it.cover.edits:
            first.setdefault(it.cover_status, it)
    assert cover_bytes(first["missing"].cover) is None
    assert cover_bytes(first["html"].cover).lstrip().lower().startswith(b"<!doctype html")
    with pytest.raises(OSError):
        Image.open(io.BytesIO(cover_bytes(first["truncated"].cover))).load()
    png = Image.open(io.BytesIO(cover_bytes(first["png"].cover)))
    assert png.format == "PNG"
    out = io.BytesIO()
    png.convert("RGB").save(out, format="JPEG")  # publishable after re-encode
    ok = Image.open(io.BytesIO(cover_bytes(first["ok"].cover)))
    assert ok.format == "JPEG" and ok.size == (720, 1280)


@pytest.mark.parametrize("day", DAYS)
def test_expected_top10_follows_the_product_rules(day):
    demo = generate_day(day)
    top = expected_top10(day)
    assert list(top) == list(CATEGORIES)
    keys = []
    for cat, ids in top.items():
        assert len(ids) == 10
        picked = [demo.truth(cat, vid) for vid in ids]
        assert all(it.views >= 100_000 and it.korean and not it.is_ad for it in picked)
        assert all(it.cover_status in ("ok", "png") for it in picked)
        assert [it.views for it in picked] == sorted((it.views for it in picked), reverse=True)
        keys += [it.video_key for it in picked]
        eligible_korean = [it for it in demo.items[cat] if it.korean and it.views >= 100_000 and not it.is_ad]
        assert len(eligible_korean) > 40
    assert len(keys) == len(set(keys)), "a video is published twice"
    # the same answer whether a crawler reads the exact (statsV2) or the rounded (stats) counters
    assert demo.expected_top10(counts="rounded") == top


@pytest.mark.parametrize("day", DAYS)
def test_every_rule_changes_the_published_top10(day):
    demo = generate_day(day)
    top = demo.expected_top10()
    for rule in ("dedup", "language", "covers"):
        ablated = demo.expected_top10(**{rule: False})
        changed = [c for c in CATEGORIES if ablated[c] != top[c]]
        assert len(changed) >= 3, f"without {rule} only {changed} change"


def test_min_views_and_subsets():
    demo = generate_day(DAY)
    few = demo.expected_top10(min_views=5_000_000)
    assert all(demo.truth(c, v).views >= 5_000_000 for c, ids in few.items() for v in ids)
    assert demo.expected_top10(top_n=3)["food"] == demo.expected_top10()["food"][:3]
    only = demo.expected_top10(categories=("dance", "tts"))
    assert list(only) == ["dance", "tts"]
    with pytest.raises(ValueError, match="unknown categories"):
        demo.expected_top10(categories=("cooking",))


@pytest.mark.parametrize("day", DAYS)
def test_sources_cover_every_item_and_end_within_eight_pages(day):
    demo = generate_day(day)
    assert set(demo.sources) == {p for paths in DEMO_SOURCES.values() for p in paths}
    for cat, paths in DEMO_SOURCES.items():
        listed = {it.id for p in paths for it in demo.sources[p]}
        assert listed == {it.id for it in demo.items[cat]}
        for path in paths:
            n, offset, pages = len(demo.sources[path]), 0, 0
            while offset < n:
                offset += page_size(path, offset)
                pages += 1
            assert pages <= 8, f"{path} needs {pages} API pages (the crawler's demo pacing is 8 scrolls)"
    assert MAX_PAGE <= 16


def test_captions_are_unambiguous_to_lingua():
    from lingua import Language, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_languages(
        Language.KOREAN, Language.ENGLISH, Language.JAPANESE, Language.VIETNAMESE, Language.CHINESE,
        Language.SPANISH, Language.THAI, Language.INDONESIAN).build()
    demo = generate_day(DAY)
    checked = 0
    for it in demo.all_items():
        words = re.sub(r"#\S+", "", it.item["desc"]).strip()
        if it.caption_kind not in ("ko_sentence", "ko_mixed", "foreign_sentence", "foreign_korean_tag"):
            continue
        for text in (words, it.item["desc"]):
            is_ko = detector.detect_language_of(text) == Language.KOREAN
            assert is_ko == it.korean, f"{it.caption_kind}: {text!r}"
        checked += 1
    assert checked > 500


def test_captionless_items_are_settled_by_the_nickname():
    hangul = re.compile(r"[\uac00-\ud7a3]")
    for it in generate_day(DAY).all_items():
        if it.caption_kind.endswith(("_empty", "_emoji", "_hashtags")):
            assert bool(hangul.search(it.item["author"]["nickname"])) == it.korean
