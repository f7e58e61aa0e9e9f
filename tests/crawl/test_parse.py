import pytest

from tiktok_top10.crawl import CaptchaBlocked, LoginRequired
from tiktok_top10.crawl.parse import ParseTally, items_from_payload, ssr_blob, ssr_items

from .hostile_site import feed_page, live_page_html, photo_item, raw_item, video_id
from .hostile_site import ssr_blob as served_blob

SOURCE = "https://www.tiktok.com/discover/x"


def parse(payload):
    tally = ParseTally()
    items, envelope = items_from_payload(payload, category="dance", source_url=SOURCE, tally=tally)
    return items, envelope, tally


def test_item_list_envelope_prefers_exact_statsv2_over_rounded_stats():
    items, envelope, tally = parse({"statusCode": 0, "itemList": [raw_item(7, views=1_585_253)], "hasMore": True})
    (item,) = items
    assert item.views == 1_585_253  # stats.playCount says 1600000
    assert item.likes == 1007
    assert item.url == f"https://www.tiktok.com/@creator7/video/{video_id(7)}"
    assert item.cover_url == f"https://www.tiktok.com/covers/ok/{video_id(7)}.jpg"  # relative cover joined to source
    assert (item.category, item.text_language, item.create_time) == ("dance", "ko", 1_767_000_007)
    assert envelope.has_more is True and not tally.malformed


def test_rounded_stats_are_used_when_statsv2_is_absent():
    raw = raw_item(1, views=1_585_253)
    del raw["statsV2"]
    (item,), _, _ = parse({"itemList": [raw]})
    assert item.views == 1_600_000


def test_search_envelopes_item_list_and_nested_data():
    items, envelope, _ = parse(feed_page(1))
    assert envelope.has_more is True and len(items) == 9  # one bad id
    items, envelope, tally = parse(feed_page(2))
    assert len(items) == 10 and tally.skipped == {"non_video_entry": 1}


def test_malformed_items_and_ads_are_counted_not_raised():
    items, _, tally = parse(feed_page(0))
    assert len(items) == 8
    assert tally.skipped == {"ad": 1} and tally.malformed == {"missing_stats": 1}


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda r: r.update(id="12ab"), "bad_id"),
        (lambda r: r.update(author={"nickname": "x"}), "missing_author"),
        (lambda r: r["statsV2"].update(playCount="1.2M") or r["stats"].update(playCount="1.2M"), "bad_playCount"),
        (lambda r: r["statsV2"].update(playCount=-4) or r["stats"].update(playCount=True), "bad_playCount"),
        (lambda r: r.pop("stats") and r.pop("statsV2"), "missing_stats"),
    ],
)
def test_each_malformation_has_its_reason(mutate, reason):
    raw = raw_item(2)
    mutate(raw)
    items, _, tally = parse({"itemList": [raw, "not an object", raw_item(3)]})
    assert [i.id for i in items] == [video_id(3)]
    assert tally.malformed == {reason: 1, "not_an_object": 1}


def test_statsv2_that_is_not_digits_falls_back_to_rounded_stats():
    raw = raw_item(4, views=1_585_253)
    raw["statsV2"]["playCount"] = "1.6M"
    (item,), _, tally = parse({"itemList": [raw]})
    assert item.views == 1_600_000 and tally.normalised == {"playCount_from_rounded_stats": 1}


def test_status_10204_on_a_list_is_nothing_there_and_counted():
    items, envelope, tally = parse({"statusCode": 10204, "statusMsg": "", "itemList": []})
    assert items == [] and tally.responses == {"status_10204": 1}


@pytest.mark.parametrize("payload, error, code", [
    ({"statusCode": 10000}, CaptchaBlocked, "status_10000"),
    ({"statusCode": 10113, "itemList": []}, CaptchaBlocked, "status_10113"),
    ({"status_code": "10114"}, CaptchaBlocked, "status_10114"),
    ({"type": "verify", "verifyConfig": {"code": "10000"}}, CaptchaBlocked, "verify"),
    ({"statusCode": 10102, "statusMsg": "user not login"}, LoginRequired, "status_10102"),
])
def test_block_and_login_signals_raise_their_error_and_are_counted(payload, error, code):
    tally = ParseTally()
    with pytest.raises(error) as caught:
        items_from_payload(payload, category="dance", source_url=SOURCE, tally=tally)
    assert tally.responses == {code: 1} and caught.value.exit_code == 3
    assert caught.value.reason == ("login_required" if error is LoginRequired else "captcha")


def test_other_status_codes_and_unknown_shapes_yield_nothing_but_are_counted():
    items, _, tally = parse({"statusCode": 10222, "itemList": None})
    assert items == [] and tally.responses == {"status_10222": 1}
    assert parse({"statusCode": 0, "itemList": [raw_item(1)]})[2].responses == {"status_0": 1}
    assert parse(["not", "an", "envelope"])[0] == []


def test_photo_posts_are_kept_with_their_photo_url_and_imagepost_cover():
    items, _, tally = parse({"itemList": [photo_item(1), photo_item(2, empty_video=False), raw_item(3)]})
    assert [i.url for i in items] == [f"https://www.tiktok.com/@creator1/photo/{video_id(1)}",
                                      f"https://www.tiktok.com/@creator2/photo/{video_id(2)}",
                                      f"https://www.tiktok.com/@creator3/video/{video_id(3)}"]
    assert items[0].cover_url == f"https://www.tiktok.com/covers/ok/{video_id(1)}.jpg"
    assert items[1].cover_url == f"https://www.tiktok.com/covers/ok/{video_id(2)}.jpg"
    assert not tally.malformed


def test_server_rendered_items_are_found_by_shape_in_any_scope():
    blob = ssr_blob(live_page_html("ssr-only"))
    assert blob == served_blob("ssr-only")
    data = ssr_items(blob)
    # 5 in a list, one under itemInfo.itemStruct, two deep in modules, one repeat: 8 unique, in document order
    assert [i["id"] for i in data.items] == [video_id(1000 + n) for n in (0, 1, 2, 3, 4, 5, 6, 7)]
    assert data.region == "KR"
    assert ssr_items({"__DEFAULT_SCOPE__": {"webapp.user-detail": {"userInfo": {"user": {"id": "1"}}}}}).items == []
    assert ssr_blob(b"<html><body>no data</body></html>") is None
    assert ssr_blob('<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{bad</script>') is None


def test_photo_post_urls_pass_the_app_schema_and_the_dedup_memory(tmp_path):
    import datetime as dt
    import json

    import jsonschema

    from tiktok_top10.dedup.memory import published_ids
    from tiktok_top10.models import top10_schema
    from tiktok_top10.storage import DayLayout

    (photo, video), _, _ = parse({"itemList": [photo_item(1), raw_item(2)]})
    # the app's id is the slot ("dance01"); the TikTok id travels in the url
    entries = [{"id": f"dance{n:02d}", "title": i.title, "author": i.author_nickname, "views": i.views,
                "likes": i.likes, "category": "dance", "url": i.url, "imageFile": f"thumbnails/dance{n:02d}.jpg",
                "rank": n, "previousRank": None}
               for n, i in enumerate((photo, video), 1)]
    jsonschema.validate(entries, top10_schema())
    bad = [{**entries[0], "url": entries[0]["url"].replace("/photo/", "/reel/")}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, top10_schema())
    day = dt.date(2026, 1, 10)
    published = DayLayout(tmp_path, day).day_dir / "dance" / "top10" / "dance_top10.json"
    published.parent.mkdir(parents=True)
    published.write_text(json.dumps(entries))
    assert published_ids(tmp_path, day) == {video_id(1), video_id(2)}
