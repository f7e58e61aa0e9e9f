import datetime as dt
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from tiktok_top10.config import CATEGORIES
from tiktok_top10.demo import DEMO_SOURCES, expected_top10, generate_day
from tiktok_top10.demo.captions import CAPTION_KINDS
from tiktok_top10.demo.covers import EDITS, cover_bytes
from tiktok_top10.demo.generator import (
    CARRIED_PER_CATEGORY,
    HISTORY_REUPLOAD_EDITS,
    _generate_day,
    published_history,
    round_count,
)
from tiktok_top10.demo.server import MAX_PAGE, page_size

DAY = dt.date(2026, 1, 10)
OTHER_DAY = dt.date(2026, 1, 11)
DAYS = [DAY, OTHER_DAY, dt.date(2025, 12, 31), dt.date(2026, 3, 1)]


@pytest.fixture(autouse=True)
def empty_data_root(tmp_path, monkeypatch):
    """The generator follows the configured data root's published days: these tests start from none (a
    developer's ``data/`` must not change what they see)."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("TIKTOK_TOP10_DATA_ROOT", str(root))
    return root


def _fresh(day, seed=7, root=None):
    history = published_history(root, day) if root is not None else ()
    return _generate_day.__wrapped__(day, seed, history)  # bypass the cache: really generate twice


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


# --- continuity: yesterday's published videos come back ---------------------------------------------------------


def _publish_truth(root: Path, day: dt.date, categories=CATEGORIES, *, rank_field=True) -> dict[str, list[str]]:
    """Write what a correct pipeline publishes for ``day`` (the generator's ground truth) as the app files
    ``publish.py`` writes: the fields the generator reads back are ``url`` and ``rank`` (v1 files: the order)."""
    demo = generate_day(day, history=root)
    top = demo.expected_top10(categories=tuple(categories))
    for category, ids in top.items():
        entries = []
        for rank, video_id in enumerate(ids, 1):
            it = demo.truth(category, video_id)
            entry = {"id": f"{category}{rank:02d}", "title": it.item["desc"], "views": it.views, "url": it.url}
            if rank_field:
                entry.update(rank=rank, previousRank=demo.previous_rank(category, video_id))
            entries.append(entry)
        path = root / day.isoformat() / category / "top10" / f"{category}_top10.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return top


def test_first_day_without_history_is_the_day_as_always(empty_data_root):
    assert generate_day(DAY).previous_day is None and generate_day(DAY).previous_ranks == {}
    assert not any(it.carried_from for it in generate_day(DAY).all_items())
    assert [it.item for it in generate_day(DAY).all_items()] == [it.item for it in _fresh(DAY).all_items()]
    assert expected_top10(DAY) == expected_top10(DAY, history=None)


def test_yesterdays_published_videos_are_carried_with_new_counts(empty_data_root):
    yesterday = generate_day(DAY, history=empty_data_root)
    published = _publish_truth(empty_data_root, DAY)
    today = generate_day(OTHER_DAY, history=empty_data_root)
    assert today.previous_day == DAY
    for category in CATEGORIES:
        before = {vid: (rank, yesterday.truth(category, vid)) for rank, vid in enumerate(published[category], 1)}
        carried = [it for it in today.items[category] if it.carried_from]
        assert len(carried) == CARRIED_PER_CATEGORY, category
        for it in carried:
            rank, old = before[it.id]
            assert it.carried_from == DAY and it.category == category
            # the same video: id, URL, author, caption, cover (the same file under today's path)
            assert (it.url, it.item["author"], it.item["desc"], it.cover, it.cover_name, it.korean, it.video_key) == \
                   (old.url, old.item["author"], old.item["desc"], old.cover, old.cover_name, old.korean, old.video_key)
            assert it.cover_path == f"/covers/{OTHER_DAY.isoformat()}/{old.cover_name}.jpg"
            assert not it.is_ad and it.views != old.views
            assert today.previous_rank(category, it.id) == rank
    # ranks move: of the carried videos that stay in the chart, some change rank
    top = today.expected_top10()
    stayed = [(c, vid) for c in CATEGORIES for vid in top[c] if today.truth(c, vid).carried_from]
    assert {c for c, _ in stayed} == set(CATEGORIES)
    moved = [(c, v) for c, v in stayed if top[c].index(v) + 1 != today.previous_rank(c, v)]
    assert moved, "no carried video changed rank"


def test_one_published_video_per_category_comes_back_re_uploaded(empty_data_root):
    yesterday = generate_day(DAY, history=empty_data_root)
    published = _publish_truth(empty_data_root, DAY)
    today = generate_day(OTHER_DAY, history=empty_data_root)
    top = today.expected_top10()
    for category in CATEGORIES:
        copies = [it for it in today.items[category]
                  if today.previous_rank(category, it.id) is not None and not it.carried_from]
        assert len(copies) == 1, category
        (copy,) = copies
        original = yesterday.truth(category, copy.reupload_of)
        assert copy.reupload_of in published[category] and copy.reupload_of not in {it.id for it in today.all_items()}
        assert today.previous_rank(category, copy.id) == published[category].index(original.id) + 1
        # another id, URL and author; the same video (key, caption, language); a lightly edited copy of the cover
        assert copy.id != original.id and copy.url != original.url
        assert copy.item["author"]["uniqueId"] != original.item["author"]["uniqueId"]
        assert copy.video_key == original.video_key and copy.item["desc"] == original.item["desc"]
        assert copy.korean == original.korean
        assert copy.cover.scene == original.cover.scene and copy.cover.status == "ok"
        assert copy.cover.edits[:len(original.cover.edits)] == original.cover.edits
        assert copy.cover.edits[len(original.cover.edits):] in HISTORY_REUPLOAD_EDITS
        assert cover_bytes(copy.cover) != cover_bytes(original.cover)
        # it makes today's chart, so the history match decides its previousRank
        assert copy.id in top[category], category


def test_a_day_with_history_follows_the_product_rules(empty_data_root):
    _publish_truth(empty_data_root, DAY)
    today = generate_day(OTHER_DAY, history=empty_data_root)
    top = today.expected_top10()
    keys = []
    for category, ids in top.items():
        assert len(ids) == 10
        picked = [today.truth(category, vid) for vid in ids]
        assert all(it.views >= 100_000 and it.korean and not it.is_ad for it in picked)
        assert [it.views for it in picked] == sorted((it.views for it in picked), reverse=True)
        keys += [it.video_key for it in picked]
        assert len({it.id for it in today.items[category]}) == len(today.items[category])
    assert len(keys) == len(set(keys))
    # the counts stay separated after rounding with the carried videos among them
    assert today.expected_top10(counts="rounded") == top
    for category, paths in DEMO_SOURCES.items():
        assert {it.id for p in paths for it in today.sources[p]} == {it.id for it in today.items[category]}
        for path in paths:
            n, offset, pages = len(today.sources[path]), 0, 0
            while offset < n:
                offset += page_size(path, offset)
                pages += 1
            assert pages <= 8, f"{path} needs {pages} API pages"


def test_history_days_are_deterministic_and_follow_the_files(empty_data_root, tmp_path):
    _publish_truth(empty_data_root, DAY)
    a, b = _fresh(OTHER_DAY, root=empty_data_root), _fresh(OTHER_DAY, root=empty_data_root)
    assert [it.item for it in a.all_items()] == [it.item for it in b.all_items()]
    assert a.previous_ranks == b.previous_ranks
    # a v1 file (no rank): the order is the rank, the same videos come back
    v1_root = tmp_path / "v1"
    _publish_truth(v1_root, DAY, rank_field=False)
    v1 = _fresh(OTHER_DAY, root=v1_root)
    assert [it.item for it in v1.all_items()] == [it.item for it in a.all_items()]
    assert v1.previous_ranks == a.previous_ranks
    # a partial day (dance alone published, the same file): dance carries the same videos, the others nothing
    partial_root = tmp_path / "partial"
    dance_file = Path(DAY.isoformat(), "dance", "top10", "dance_top10.json")
    (partial_root / dance_file).parent.mkdir(parents=True)
    (partial_root / dance_file).write_bytes((empty_data_root / dance_file).read_bytes())
    partial = _fresh(OTHER_DAY, root=partial_root)
    assert set(partial.previous_ranks) == {"dance"} and partial.previous_ranks["dance"] == a.previous_ranks["dance"]
    assert not any(it.carried_from for c in CATEGORIES if c != "dance" for it in partial.items[c])


def test_entries_the_demo_never_served_are_not_carried(empty_data_root):
    path = empty_data_root / DAY.isoformat() / "dance" / "top10" / "dance_top10.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"url": f"https://www.tiktok.com/@live/video/{7000000000000000000 + n}", "rank": n}
                                for n in range(1, 11)]))
    today = generate_day(OTHER_DAY)  # the configured data root, as the demo site reads it
    assert today.previous_day == DAY and today.previous_ranks == {}
    assert [it.item for it in today.all_items()] == [it.item for it in _fresh(OTHER_DAY).all_items()]
    path.write_text("not json")
    assert generate_day(OTHER_DAY).previous_day is None  # unreadable: no chart


def test_the_demo_site_serves_the_carried_videos_from_the_configured_data_root(empty_data_root, demo_site):
    import httpx

    yesterday = generate_day(DAY)
    _publish_truth(empty_data_root, DAY, categories=("tts",))
    today = generate_day(OTHER_DAY)
    carried = [it for it in today.items["tts"] if it.carried_from]
    assert carried
    served: set[str] = set()
    with httpx.Client(base_url=demo_site.base_url, cookies={"demo_day": OTHER_DAY.isoformat()}, timeout=30) as c:
        for path in DEMO_SOURCES["tts"]:
            query = path.split("q=", 1)[1]
            offset, more = 0, True
            while more:
                body = c.get("/api/search/item/full/", params={"keyword": query, "offset": offset}).json()
                served |= {item["id"] for item in body["item_list"]}
                more, offset = bool(body["has_more"]), int(body["cursor"])
    assert {it.id for it in today.items["tts"]} == served
    with httpx.Client(base_url=demo_site.cdn_url, timeout=30) as cdn:
        for it in carried[:2]:
            old = yesterday.truth("tts", it.id)
            assert cdn.get(it.cover_path).content == cdn.get(old.cover_path).content == cover_bytes(old.cover)
