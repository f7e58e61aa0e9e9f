import pytest

from tiktok_top10.crawl import IpBlocked
from tiktok_top10.crawl.parse import ParseTally, items_from_payload

from .hostile_site import feed_page, raw_item, video_id

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
        (lambda r: r["statsV2"].update(playCount="1.2M"), "bad_playCount"),
        (lambda r: r["statsV2"].update(playCount=-4), "bad_playCount"),
        (lambda r: r.pop("stats") and r.pop("statsV2"), "missing_stats"),
    ],
)
def test_each_malformation_has_its_reason(mutate, reason):
    raw = raw_item(2)
    mutate(raw)
    items, _, tally = parse({"itemList": [raw, "not an object", raw_item(3)]})
    assert [i.id for i in items] == [video_id(3)]
    assert tally.malformed == {reason: 1, "not_an_object": 1}


def test_status_10204_raises_ip_blocked():
    with pytest.raises(IpBlocked, match="10204"):
        parse({"statusCode": 10204, "statusMsg": "IP address is blocked"})


def test_other_status_codes_and_unknown_shapes_yield_nothing_but_are_counted():
    items, _, tally = parse({"statusCode": 10222, "itemList": None})
    assert items == [] and tally.responses == {"status_10222": 1}
    assert parse(["not", "an", "envelope"])[0] == []
