"""Fault matrix, input rows: feed items with missing fields, counters as display strings, negative views, huge
captions, captions with path separators or NUL/control characters, ids that are not digits.  Outcome required:
rejected or normalised with a counted reason, and no path is ever built from caption text."""

from __future__ import annotations

import datetime as dt

from crawl.hostile_site import HostileSite, raw_item, video_id

from tiktok_top10.crawl.covers import CoverPolicy, download_covers
from tiktok_top10.crawl.parse import MAX_CAPTION_CHARS, ParseTally, items_from_payload
from tiktok_top10.crawl.stage import select_items
from tiktok_top10.publish import publish_day
from tiktok_top10.retention import archive_and_cleanup
from tiktok_top10.storage import DayLayout, atomic_write_json, atomic_write_jsonl, read_json, read_jsonl

SOURCE = "http://127.0.0.1:9/feed/ok"


def parse(*items: dict) -> tuple[list, ParseTally]:
    tally = ParseTally()
    out, _ = items_from_payload(
        {"statusCode": 0, "itemList": list(items)}, category="main", source_url=SOURCE, tally=tally
    )
    return out, tally


def without(item: dict, *keys: str) -> dict:
    return {k: v for k, v in item.items() if k not in keys}


def with_views(n: int, value) -> dict:
    item = raw_item(n)
    return {**item, "stats": {**item["stats"], "playCount": value}, "statsV2": {**item["statsV2"], "playCount": value}}


def test_input_item_json_with_missing_fields():
    kept, tally = parse(
        without(raw_item(0), "id"),
        without(raw_item(1), "author"),
        without(raw_item(2), "stats", "statsV2"),
        {**raw_item(3), "author": {"nickname": "이름만"}},
        without(raw_item(4), "desc", "video", "createTime"),
    )
    assert dict(tally.malformed) == {"bad_id": 1, "missing_author": 2, "missing_stats": 1}
    assert [i.id for i in kept] == [video_id(4)]  # optional fields missing: kept with empty defaults
    assert (kept[0].title, kept[0].cover_url, kept[0].create_time) == ("", "", None)


def test_input_numbers_as_strings():
    kept, tally = parse(
        with_views(0, "1.2M"), with_views(1, "1,234"), with_views(2, " 250000 "), with_views(3, 250000.0)
    )
    # Display strings are not counts: an exact counter is required to rank, so they are rejected, by reason.
    assert dict(tally.malformed) == {"bad_playCount": 2}
    assert sorted(i.views for i in kept) == [250000, 250000]


def test_input_negative_views():
    item = raw_item(2)
    kept, tally = parse(
        with_views(0, -5), with_views(1, "-5"), {**item, "statsV2": {"playCount": "300000", "diggCount": -1}}
    )
    # No usable count anywhere: rejected. A bad exact counter beside a good rounded one: the rounded one, counted.
    assert dict(tally.malformed) == {"bad_playCount": 2}
    assert [(i.views, i.likes) for i in kept] == [(300000, item["stats"]["diggCount"])]
    assert tally.normalised["diggCount_from_rounded_stats"] == 1


def test_input_negative_counts_everywhere_are_rejected():
    item = raw_item(3)
    kept, tally = parse(
        {**item, "stats": {**item["stats"], "diggCount": -1}, "statsV2": {**item["statsV2"], "diggCount": "-1"}}
    )
    assert dict(tally.malformed) == {"bad_diggCount": 1}
    assert kept == []


def test_input_huge_captions():
    kept, tally = parse(
        {**raw_item(0), "desc": "틱톡 " * 200_000},
        {**raw_item(1), "author": {**raw_item(1)["author"], "nickname": "n" * 10_000}},
    )
    assert len(kept) == 2 and len(kept[0].title) == MAX_CAPTION_CHARS and len(kept[1].author_nickname) == 100
    assert dict(tally.normalised) == {"title_clipped": 1, "nickname_clipped": 1}


def test_input_nul_and_control_characters():
    kept, tally = parse({**raw_item(0), "desc": "안녕\x00하세요\x1b[31m\r\x7f\u0085 #춤\n둘째 줄\t탭"},
                        {**raw_item(1), "author": {**raw_item(1)["author"], "uniqueId": "evil\x00name"}},
                        {**raw_item(2), "textLanguage": "ko\x00../x"})
    assert dict(tally.normalised) == {"title_control_chars": 1}
    assert dict(tally.malformed) == {"bad_author_handle": 1}
    assert kept[0].title == "안녕하세요[31m #춤\n둘째 줄\t탭"
    assert kept[1].text_language is None  # not a language code: dropped rather than carried


def test_input_ids_that_are_not_digits():
    bad_ids = ["not-a-number", "../../etc/passwd", "12 34", "١٢٣", "0x1f", "", "1" * 26, True, 1.5, None]
    kept, tally = parse(
        *({**raw_item(n), "id": v} for n, v in enumerate(bad_ids)), {**raw_item(99), "id": int(video_id(99))}
    )
    assert dict(tally.malformed) == {"bad_id": len(bad_ids)}
    assert [i.id for i in kept] == [video_id(99)]  # an int id is the same id, as a string


def test_input_captions_with_path_separators_never_become_paths(settings):
    """Through the real stages: parse → cover download (loopback HTTP) → publish → archive.  Every file the
    pipeline creates is named by video id, category and rank; none carries a fragment of a caption or handle."""
    hostile = [
        "../../../../tmp/owned", "..\\..\\windows\\system32", "/etc/passwd", "a/b/c.jpg", "~/.ssh/id_rsa",
        "%2e%2e%2fescape", "con.jpg", "name\x00.jpg", "thumbnails/../../x",
    ]
    day = dt.date(2026, 11, 22)
    layout = DayLayout(settings.data_root, day)
    with HostileSite() as site:
        source = site.url("/feed/ok")
        payload = {"statusCode": 0, "itemList": [
            {
                **raw_item(n),
                "desc": f"진짜 한국어 캡션 {caption}",
                "author": {**raw_item(n)["author"], "nickname": caption},
            }
            for n, caption in enumerate(hostile)
        ]}
        tally = ParseTally()
        items, _ = items_from_payload(payload, category="main", source_url=source, tally=tally)
        kept, _ = select_items(items, settings.min_views)
        assert len(kept) == len(hostile)
        report = download_covers({i.id: i.cover_url for i in kept}, layout.raw_thumbnails("main"),
                                 CoverPolicy(backoff_s=0.01).with_hosts(source))
    assert report.ok == len(hostile)
    rows = [i.model_copy(update={"thumbnail": str(report.results[i.id].path)}).to_json() for i in kept]
    atomic_write_jsonl(layout.raw_items("main"), rows)
    atomic_write_json(layout.raw_dir("main") / "crawl_summary.json", {"items_kept": len(rows)})
    verdict = {"category": "main", "duplicate_of": None, "similarity": None, "reason": None, "matched_history": None}
    atomic_write_jsonl(
        layout.work_dir / "dedup.jsonl",
        [{"key": f"main/{r['id']}", "id": r["id"], "status": "kept", **verdict} for r in rows],
    )
    atomic_write_jsonl(layout.work_dir / "language.jsonl", [
        {"key": f"main/{r['id']}", "category": "main", "id": r["id"], "korean": True, "language": "ko",
         "confidence": 1.0, "basis": "title", "detector": "script"} for r in rows])
    one_category = settings.with_overrides(categories=["main"], top_n=5)
    publish_day(one_category, day, ["main"])
    archive_and_cleanup(one_category, day, ["main"])

    created = [p.relative_to(settings.data_root) for p in settings.data_root.rglob("*")]
    assert all(p.resolve().is_relative_to(settings.data_root.resolve()) for p in settings.data_root.rglob("*"))
    names = {part for p in created for part in p.parts}
    for caption in hostile:
        for fragment in (caption, "owned", "passwd", "system32", "id_rsa", "escape", "con.jpg"):
            assert not any(fragment in name for name in names), (fragment, sorted(names))
    published = read_json(layout.top10_json("main"))
    assert [e["imageFile"] for e in published] == [f"thumbnails/main{k:02d}.jpg" for k in range(1, 6)]
    assert {e["author"] for e in published} <= {c.replace("\x00", "") for c in hostile}  # published as text
    archived = list(read_jsonl(settings.data_root / "residual_archive" / "2026-11-22" / "main" / "items.jsonl"))
    assert len(archived) == len(hostile) - 5 and all(r["archive_reason"] == "below_top_n" for r in archived)
