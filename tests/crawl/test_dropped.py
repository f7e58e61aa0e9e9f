"""What the crawl drops is written down: ``raw/dropped.jsonl`` holds each video left out below ``min_views`` or as
an ad, with its reason, so ``top10 explain`` can answer for it."""

import pytest

from tiktok_top10.crawl import crawl_category
from tiktok_top10.crawl.parse import ParseTally, items_from_payload
from tiktok_top10.crawl.stage import dropped_records, select_items
from tiktok_top10.storage import read_json, read_jsonl

from .hostile_site import feed_page, raw_item, video_id

SOURCE = "https://www.tiktok.com/foryou"


def test_parser_keeps_ads_aside_and_the_stage_records_every_drop_with_its_reason():
    ad = {**raw_item(1, views=2_000_000), "isAd": True}
    ad_again = {**raw_item(1, views=2_500_000), "isAd": True}  # a later scroll: fresher counters win
    malformed_ad = {k: v for k, v in ad.items() if k not in ("stats", "statsV2")} | {"id": video_id(9)}
    payload = {"statusCode": 0, "itemList": [raw_item(0), ad, raw_item(3, views=5_000), ad_again, malformed_ad,
                                              raw_item(3, views=6_000)]}
    tally = ParseTally()
    items, _ = items_from_payload(payload, category="dance", source_url=SOURCE, tally=tally)
    assert tally.skipped["ad"] == 3  # every ad entry is counted ...
    assert list(tally.ads) == [video_id(1)] and tally.ads[video_id(1)].views == 2_500_000  # ... well-formed kept

    kept, counts = select_items(items, 100_000)
    assert [i.id for i in kept] == [video_id(0)] and counts["below_min_views"] == 1
    rows = dropped_records(items, tally.ads, 100_000)
    assert rows == [
        {"id": video_id(1), "url": f"https://www.tiktok.com/@creator1/video/{video_id(1)}", "author": "creator1",
         "views": 2_500_000, "reason": "ad", "source": SOURCE},
        {"id": video_id(3), "url": f"https://www.tiktok.com/@creator3/video/{video_id(3)}", "author": "creator3",
         "views": 6_000, "reason": "below_min_views", "source": SOURCE, "min_views": 100_000},
    ]


def test_an_id_served_both_as_ad_and_as_an_item_is_not_recorded_as_an_ad():
    tally = ParseTally()
    payload = {"statusCode": 0, "itemList": [{**raw_item(2), "isAd": True}, raw_item(2)]}
    items, _ = items_from_payload(payload, category="dance", source_url=SOURCE, tally=tally)
    assert list(tally.ads) == [video_id(2)]
    assert dropped_records(items, tally.ads, 100_000) == []  # it is kept as an ordinary item


@pytest.mark.browser
def test_crawl_writes_dropped_jsonl_beside_the_kept_items_and_a_rerun_replaces_it(site, tmp_path, fast_browser):
    out = tmp_path / "raw"

    def crawl():
        return crawl_category("dance", [site.url("/feed/ok")], out_dir=out, profile_dir=tmp_path / "profile",
                              min_views=100_000, reloads=1, scrolls=8, options=fast_browser)

    summary = crawl()
    rows = list(read_jsonl(out / "dropped.jsonl"))
    # the hostile feed's first page: item 1 is an ad, item 3 has 5,000 views (hostile_site.feed_page)
    ad = feed_page(0)["itemList"][1]
    assert [(r["id"], r["reason"]) for r in rows] == [(video_id(1), "ad"), (video_id(3), "below_min_views")]
    assert rows[0]["views"] == int(ad["statsV2"]["playCount"]) and rows[0]["author"] == "creator1"
    assert rows[1]["views"] == 5_000 and rows[1]["min_views"] == 100_000
    assert all(r["source"] == site.url("/feed/ok") and r["url"].endswith(r["id"]) for r in rows)
    kept = {r["id"] for r in read_jsonl(out / "items.jsonl")}
    assert not kept & {r["id"] for r in rows}
    assert summary["dropped_recorded"] == 2 == summary["below_min_views"] + summary["skipped_ad"]
    assert read_json(out / "crawl_summary.json") == summary

    before = (out / "dropped.jsonl").read_bytes()
    crawl()
    assert (out / "dropped.jsonl").read_bytes() == before  # replaced with the same records, not appended
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging or temp file left behind
