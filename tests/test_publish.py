import datetime as dt
import json

import jsonschema
import numpy as np
import pytest
from PIL import Image

from tiktok_top10.models import APP_FIELDS
from tiktok_top10.publish import RANK_FIELDS, PublishError, day_is_published, publish_day
from tiktok_top10.schemas import APP_SCHEMA, app_schema
from tiktok_top10.storage import atomic_write_jsonl, read_json, read_jsonl

DAY = dt.date(2026, 11, 22)


def _ids(n, start=7300000000000000000):
    return [str(start + i) for i in range(n)]


def test_ranks_korean_kept_items_by_views_and_renames_ids(settings, make_day):
    items = [{"id": vid, "category": "dance", "views": 200_000 + i * 1000} for i, vid in enumerate(_ids(14))]
    items[13]["korean"] = False  # the most viewed is foreign: must not be published
    items[12]["status"] = "duplicate"
    items[12]["duplicate_of"] = f"dance/{items[0]['id']}"
    layout = make_day(items)
    publish_day(settings.with_overrides(categories=["dance"]), DAY)

    entries = read_json(layout.top10_json("dance"))
    assert [e["id"] for e in entries] == [f"dance{n:02d}" for n in range(1, 11)]
    assert [e["url"].rsplit("/", 1)[1] for e in entries] == [items[i]["id"] for i in range(11, 1, -1)]
    assert all(tuple(e) == APP_FIELDS + RANK_FIELDS for e in entries)
    assert [e["rank"] for e in entries] == list(range(1, 11)) and {e["previousRank"] for e in entries} == {None}
    jsonschema.validate(entries, app_schema())
    for e in entries:
        with Image.open(layout.top10_dir("dance") / e["imageFile"]) as img:
            assert img.format == "JPEG"


def test_png_cover_is_reencoded_as_jpeg_and_broken_cover_gives_its_slot_away(settings, make_day):
    items = [{"id": vid, "category": "food", "views": 500_000 - i} for i, vid in enumerate(_ids(12))]
    items[0]["cover"] = "png"
    items[1]["cover"] = "broken"
    layout = make_day(items)
    manifest = read_json(publish_day(settings.with_overrides(categories=["food"]), DAY))
    entries = read_json(layout.top10_json("food"))
    assert entries[0]["url"].endswith(items[0]["id"])
    assert items[1]["id"] not in {e["url"].rsplit("/", 1)[1] for e in entries}
    assert len(entries) == 10 and manifest["stages"]["publish"]["food"]["cover_failures"] == 1
    with Image.open(layout.top10_dir("food") / "thumbnails" / "food01.jpg") as img:
        assert img.format == "JPEG" and img.mode == "RGB"


def test_same_url_is_published_once(settings, make_day):
    items = [{"id": vid, "category": "tts", "views": 300_000 + i, "author": "same"} for i, vid in enumerate(_ids(3))]
    layout = make_day(items + [dict(items[0])])  # the crawler saw one video twice
    publish_day(settings.with_overrides(categories=["tts"]), DAY)
    urls = [e["url"] for e in read_json(layout.top10_json("tts"))]
    assert len(urls) == len(set(urls)) == 3


def test_rerun_is_byte_identical_and_manifest_marks_complete(settings, make_day):
    cats = ["main", "dance"]
    items = [{"id": vid, "category": c, "views": 150_000 + i}
             for c in cats for i, vid in enumerate(_ids(11, 7100000000000000000 + 100 * len(c)))]
    layout = make_day(items)
    s = settings.with_overrides(categories=cats)
    publish_day(s, DAY)
    first = {p: p.read_bytes() for p in layout.day_dir.rglob("top10/*") if p.is_file()}
    first |= {p: p.read_bytes() for p in layout.day_dir.rglob("top10/thumbnails/*")}
    publish_day(s, DAY)
    again = {p: p.read_bytes() for p in first}
    assert again == first
    assert not list(layout.day_dir.rglob(".top10.staging-*"))
    assert day_is_published(s, DAY, cats)
    assert not day_is_published(s, DAY, ["main", "dance", "food"])  # a broader request is not covered
    latest = read_json(settings.data_root / "latest.json")
    assert latest["day"] == "2026-11-22"


def test_missing_category_makes_the_day_partial_and_keeps_latest(settings, make_day):
    layout = make_day([{"id": "7000000000000000001", "category": "main", "views": 400_000}])
    manifest = read_json(publish_day(settings.with_overrides(categories=["main", "food"]), DAY))
    assert manifest["status"] == "partial"
    assert manifest["stages"]["publish"]["food"]["status"] == "crawl_missing"
    assert layout.top10_json("main").exists() and not layout.top10_json("food").exists()
    assert not (settings.data_root / "latest.json").exists()
    assert not day_is_published(settings, DAY, ["main", "food"])


def test_backfill_of_an_older_day_does_not_move_latest_back(settings, make_day):
    s = settings.with_overrides(categories=["main"])
    for day in (dt.date(2026, 11, 22), dt.date(2026, 11, 20)):
        make_day([{"id": "7000000000000000001", "category": "main", "views": 400_000}], day=day)
        publish_day(s, day)
    assert read_json(settings.data_root / "latest.json")["day"] == "2026-11-22"


def test_publish_refuses_without_stage_outputs(settings):
    with pytest.raises(PublishError, match="dedup"):
        publish_day(settings, DAY)


def test_image_base_url_makes_image_file_absolute(settings, make_day):
    layout = make_day([{"id": "7000000000000000001", "category": "main", "views": 400_000}])
    publish_day(settings.with_overrides(categories=["main"], image_base_url="https://cdn.example.org/top10"), DAY)
    entry = read_json(layout.top10_json("main"))[0]
    assert entry["imageFile"] == "https://cdn.example.org/top10/2026-11-22/main/top10/thumbnails/main01.jpg"
    json.dumps(entry)


@pytest.mark.parametrize("size,expected", [((2160, 3840), (1080, 1920)), ((3840, 2160), (1920, 1080)),
                                           ((1080, 1920), (1080, 1920)), ((720, 1280), (720, 1280))])
def test_thumbnails_larger_than_a_phone_screen_are_scaled_down(settings, make_day, size, expected):
    items = [{"id": vid, "category": "main", "views": 300_000 - i} for i, vid in enumerate(_ids(2))]
    layout = make_day(items)
    big = Image.linear_gradient("L").resize(size).convert("RGB")
    big.save(layout.raw_dir("main") / "thumbnails" / f"{items[0]['id']}.jpg", quality=90)
    publish_day(settings.with_overrides(categories=["main"]), DAY)
    with Image.open(layout.top10_dir("main") / "thumbnails" / "main01.jpg") as img:
        assert img.format == "JPEG" and img.size == expected
        # the picture is scaled, not cropped: the gradient still runs from black at the top to white at the bottom
        column = np.asarray(img.convert("L"))[:, img.width // 2]
        assert column[:10].mean() < 30 and column[-10:].mean() > 225


def _ranked(layout, category):
    return {e["url"].rsplit("/", 1)[1]: e for e in read_json(layout.top10_json(category))}


def test_second_day_carries_the_first_days_rank_by_url_and_null_for_new_entries(settings, make_day):
    s = settings.with_overrides(categories=["dance"])
    first_ids = _ids(12, 7400000000000000000)
    first = make_day([{"id": vid, "category": "dance", "views": 500_000 - i * 1000}
                      for i, vid in enumerate(first_ids)], day=DAY)
    publish_day(s, DAY)
    before = _ranked(first, "dance")
    # next day: half of yesterday's videos stay with new view counts (order shuffled), the rest are new
    stayed = first_ids[:6]
    new_ids = _ids(6, 7500000000000000000)
    views = {vid: 300_000 + n * 7000 for n, vid in enumerate(stayed)} | {
        vid: 310_000 + n * 9000 for n, vid in enumerate(new_ids)}
    day2 = DAY + dt.timedelta(days=1)
    second = make_day([{"id": vid, "category": "dance", "views": v,
                        "author": f"creator{first_ids.index(vid)}" if vid in first_ids else f"new{vid[-2:]}"}
                       for vid, v in views.items()], day=day2)
    manifest = read_json(publish_day(s, day2))
    after = read_json(second.top10_json("dance"))
    jsonschema.validate(after, app_schema())
    assert manifest["app_schema"] == APP_SCHEMA == "top10.v2" and manifest["previous_day"] == DAY.isoformat()
    assert [e["rank"] for e in after] == list(range(1, 11))
    carried = 0
    for entry in after:
        vid = entry["url"].rsplit("/", 1)[1]
        if vid in before and before[vid]["url"] == entry["url"]:
            assert entry["previousRank"] == before[vid]["rank"], entry
            carried += 1
        else:
            assert vid in new_ids and entry["previousRank"] is None, entry
    assert carried >= 4 and any(e["previousRank"] is None for e in after)
    assert any(e["previousRank"] not in (None, e["rank"]) for e in after)  # the chart moved


def test_reupload_under_a_new_id_gets_its_previous_rank_through_the_history_match(settings, make_day):
    s = settings.with_overrides(categories=["food"])
    first_ids = _ids(5, 7600000000000000000)
    first = make_day([{"id": vid, "category": "food", "views": 400_000 - i * 1000}
                      for i, vid in enumerate(first_ids)], day=DAY)
    publish_day(s, DAY)
    original = first_ids[2]
    assert _ranked(first, "food")[original]["rank"] == 3
    day2 = DAY + dt.timedelta(days=1)
    reupload, unrelated = "7700000000000000001", "7700000000000000002"
    second = make_day([{"id": reupload, "category": "food", "views": 900_000, "author": "copycat"},
                       {"id": unrelated, "category": "food", "views": 800_000, "author": "someone"}], day=day2)
    rows = list(read_jsonl(second.work_dir / "dedup.jsonl"))
    for row in rows:  # what the dedup stage writes when a cover matches an item published on an earlier day
        if row["id"] == reupload:
            row["matched_history"] = {"day": DAY.isoformat(), "key": f"food/{original}", "id": original,
                                      "similarity": 0.97}
    atomic_write_jsonl(second.work_dir / "dedup.jsonl", rows)
    publish_day(s, day2)
    after = _ranked(second, "food")
    assert after[reupload]["rank"] == 1 and after[reupload]["previousRank"] == 3
    assert after[unrelated]["previousRank"] is None
    jsonschema.validate(list(after.values()), app_schema())


def test_previous_rank_skips_a_partial_day_and_reads_a_v1_file_by_position(settings, make_day):
    s = settings.with_overrides(categories=["main"])
    ids = _ids(3, 7800000000000000000)
    first = make_day([{"id": vid, "category": "main", "views": 300_000 - i} for i, vid in enumerate(ids)], day=DAY)
    publish_day(s, DAY)
    # a file published before schema v2 has no rank fields: its order is the rank
    v1 = [{k: e[k] for k in APP_FIELDS} for e in read_json(first.top10_json("main"))]
    first.top10_json("main").write_text(json.dumps(v1))
    partial_day = DAY + dt.timedelta(days=1)
    make_day([{"id": ids[0], "category": "main", "views": 1}], day=partial_day)
    publish_day(settings.with_overrides(categories=["main", "food"]), partial_day)  # food missing: partial
    third = DAY + dt.timedelta(days=2)
    layout = make_day([{"id": vid, "category": "main", "views": 100_000 + i, "author": f"creator{i}"}
                       for i, vid in enumerate(ids)], day=third)
    assert read_json(publish_day(s, third))["previous_day"] == DAY.isoformat()
    assert [(e["rank"], e["previousRank"]) for e in read_json(layout.top10_json("main"))] == [(1, 3), (2, 2), (3, 1)]
