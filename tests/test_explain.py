"""``top10 explain`` on a published day built like the pipeline leaves it: make_day's stage outputs, the real
publish, then the real archive step (raw/ and work/ moved to the residual archive)."""

import datetime as dt
import json

import pytest

from tiktok_top10.cli import main as top10
from tiktok_top10.crawl.stage import dropped_records
from tiktok_top10.explain import explain, format_text, video_id_of
from tiktok_top10.models import VideoItem, canonical_url
from tiktok_top10.publish import publish_day
from tiktok_top10.retention import archive_and_cleanup, cleanup_archives
from tiktok_top10.storage import DayLayout, atomic_write_jsonl, read_json, read_jsonl

DAY = dt.date(2026, 11, 22)
PREVIOUS = DAY - dt.timedelta(days=1)
IDS = [str(7300000000000000000 + i) for i in range(16)]
FOREIGN, DUPLICATE, NO_COVER, BROKEN_COVER, REUPLOAD, KEPT = (IDS[i] for i in range(6))
BELOW_CUT = IDS[14]
ORIGINAL = "7200000000000000777"  # published the day before; IDS[4] is its re-upload
UNSEEN = "7999999999999999999"
BELOW_MIN, AD = "7300000000000000100", "7300000000000000101"  # dropped by the crawl
MIN_VIEWS = 100_000


def _rewrite(path, change):
    rows = list(read_jsonl(path))
    for row in rows:
        change(row)
    atomic_write_jsonl(path, rows)


@pytest.fixture
def day(settings, make_day):
    """A published ``dance`` day: a foreign video, a duplicate, a cover the crawl could not download, a cover
    publish could not decode, a re-upload of yesterday's #2, ten published and two below the cut; and two videos
    the crawl dropped (one below min_views, one ad)."""
    s = settings.with_overrides(categories=["dance"])
    make_day([{"id": "7200000000000000001", "category": "dance", "views": 900_000},
              {"id": ORIGINAL, "category": "dance", "views": 800_000}], day=PREVIOUS)
    publish_day(s, PREVIOUS)

    items = [{"id": vid, "category": "dance", "views": 500_000 - i * 1000} for i, vid in enumerate(IDS)]
    items[0]["korean"] = False
    items[1].update(status="duplicate", duplicate_of=f"dance/{KEPT}")
    items[2].update(status="skipped", reason="no thumbnail: http 403", cover=None)
    items[3]["cover"] = "broken"
    layout = make_day(items, day=DAY)
    # what the crawl and dedup stages record beyond make_day's defaults
    _rewrite(layout.raw_items("dance"),
             lambda row: row.update(thumbnail_error="http 403") if row["id"] == NO_COVER else None)
    source = "https://www.tiktok.com/tag/dance"

    def seen(vid, views):
        return VideoItem(id=vid, category="dance", author_unique_id=f"u{vid[-3:]}", views=views, likes=0,
                         url=canonical_url(f"u{vid[-3:]}", vid), source_url=source)

    # the records as the crawl stage writes them (crawl/stage.py)
    atomic_write_jsonl(layout.raw_dropped("dance"),
                       dropped_records([seen(BELOW_MIN, 4_321)], {AD: seen(AD, 3_000_000)}, MIN_VIEWS))

    def dedup_evidence(row):
        if row["id"] == DUPLICATE:
            row.update(similarity=0.9312, inliers=57, agreement=81, matched_by="cover", via=None)
        if row["id"] == REUPLOAD:
            row["matched_history"] = {"day": PREVIOUS.isoformat(), "key": f"dance/{ORIGINAL}", "id": ORIGINAL,
                                      "similarity": 0.97}

    _rewrite(layout.work_dir / "dedup.jsonl", dedup_evidence)
    publish_day(s, DAY)
    return s, layout


def _outcome(settings, video):
    result = explain(settings, video, DAY)
    assert result.exit_code == 0, result
    (outcome,) = result.outcomes
    assert outcome.category == "dance"
    return outcome


@pytest.mark.parametrize("archived", [False, True], ids=["run-in-progress", "archived"])
def test_every_outcome_of_a_published_day(day, archived):
    s, layout = day
    if archived:
        archive_and_cleanup(s, DAY)
        assert not layout.work_dir.exists() and not layout.raw_dir("dance").exists()
    published = {e["url"].rsplit("/", 1)[1]: e for e in read_json(layout.top10_json("dance"))}

    kept = _outcome(s, KEPT)
    assert kept.outcome == "published" and kept.details["rank"] == published[KEPT]["rank"] == 2

    reupload = _outcome(s, REUPLOAD)
    assert reupload.outcome == "published" and reupload.details["rank"] == 1
    assert reupload.details["previous_rank"] == 2 and reupload.details["reupload_of"]["id"] == ORIGINAL

    duplicate = _outcome(s, DUPLICATE)
    assert duplicate.outcome == "duplicate"
    assert duplicate.details["kept"] == f"dance/{KEPT}" and duplicate.details["kept_rank"] == 2
    assert duplicate.details["cosine"] == 0.9312
    assert (duplicate.details["inliers"], duplicate.details["agreement"], duplicate.details["matched_by"]) == (
        57, 81, "cover")
    assert "cosine 0.9312, 57 inliers, 81% agreement" in duplicate.reason

    below_min = _outcome(s, BELOW_MIN)
    assert below_min.outcome == "below_min_views"
    assert (below_min.details["views"], below_min.details["min_views"]) == (4_321, MIN_VIEWS)
    assert "4321 views, below min_views 100000" in below_min.reason

    ad = _outcome(s, AD)
    assert ad.outcome == "ad" and ad.details["views"] == 3_000_000
    assert ad.details["url"].endswith(AD) and ad.details["source"] == "https://www.tiktok.com/tag/dance"

    foreign = _outcome(s, FOREIGN)
    assert foreign.outcome == "not_korean"
    assert (foreign.details["language"], foreign.details["confidence"], foreign.details["basis"]) == ("en", 0.99,
                                                                                                      "title")

    no_cover = _outcome(s, NO_COVER)
    assert no_cover.outcome == "cover_failed" and no_cover.details["stage"] == "dedup"
    assert no_cover.details["download_error"] == "http 403"

    broken = _outcome(s, BROKEN_COVER)
    assert broken.outcome == "cover_failed" and broken.details["stage"] == "publish"
    assert BROKEN_COVER not in published

    below = _outcome(s, BELOW_CUT)
    # eligible by views: IDS[3] (its cover failed) and IDS[4..15]; IDS[14] is the 12th of those 13
    assert below.outcome == "not_in_top_n" and (below.details["position"], below.details["eligible"]) == (12, 13)

    unseen = explain(s, UNSEEN, DAY)
    assert unseen.outcomes == [] and unseen.exit_code == 1 and "min_views" in unseen.note


@pytest.mark.parametrize("archived", [False, True], ids=["run-in-progress", "archived"])
def test_a_reupload_of_a_video_published_in_the_last_7_days_is_shown_as_such(day, archived):
    s, layout = day
    if archived:
        archive_and_cleanup(s, DAY)
    yesterday = read_json(DayLayout(s.data_root, PREVIOUS).top10_json("dance"))
    original = {e["url"].rsplit("/", 1)[1]: e for e in yesterday}[ORIGINAL]
    reupload = explain(s, REUPLOAD, DAY)
    (outcome,) = reupload.outcomes
    matched = outcome.details["reupload_of"]
    assert (matched["day"], matched["id"], matched["category"]) == (PREVIOUS.isoformat(), ORIGINAL, "dance")
    assert (matched["url"], matched["rank"]) == (original["url"], 2)
    assert (f"re-upload of {ORIGINAL} published on {PREVIOUS.isoformat()} in dance at rank 2 ({original['url']})"
            in format_text(reupload))
    # a video with no history match says nothing of the kind
    assert "reupload_of" not in _outcome(s, KEPT).details


def test_a_day_crawled_before_dropped_items_were_kept_says_so(day):
    s, layout = day
    layout.raw_dropped("dance").unlink()
    unseen = explain(s, BELOW_MIN, DAY)
    assert unseen.exit_code == 1 and unseen.outcomes == []
    assert "dance kept only counts of what its crawl dropped" in unseen.note


def test_cli_takes_a_url_prints_json_and_exits_by_outcome(day, capsys):
    s, layout = day
    archive_and_cleanup(s, DAY)
    root = str(s.data_root)
    url = f"https://www.tiktok.com/@creator1/video/{DUPLICATE}?is_from_webapp=1"
    assert top10(["explain", url, "--day", DAY.isoformat(), "--json", "--data-root", root]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["found"] and answer["data"] == "archive"
    assert [(o["category"], o["outcome"]) for o in answer["outcomes"]] == [("dance", "duplicate")]

    assert top10(["explain", FOREIGN, "--day", DAY.isoformat(), "--data-root", root]) == 0
    text = capsys.readouterr().out
    assert "dance" in text and "not_korean" in text and "language en" in text

    assert top10(["explain", UNSEEN, "--day", DAY.isoformat(), "--data-root", root]) == 1
    assert "not seen" in capsys.readouterr().out

    # the crawl's dropped items come from the archive too (archive_and_cleanup carries dropped.jsonl)
    assert top10(["explain", BELOW_MIN, "--day", DAY.isoformat(), "--json", "--data-root", root]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["data"] == "archive"
    assert [(o["outcome"], o["details"]["min_views"]) for o in answer["outcomes"]] == [("below_min_views", MIN_VIEWS)]
    assert top10(["explain", KEPT, "--day", "2026-11-01", "--data-root", root]) == 1  # a day that never ran


@pytest.mark.parametrize("argv", [["not-a-video", "--day", "2026-11-22"], [KEPT, "--day", "22.11.2026"],
                                  [KEPT, "--day", "2026-11-2"], [KEPT], ["https://example.org/video/123",
                                                                         "--day", "2026-11-22"]])
def test_bad_arguments_exit_2(argv, data_root, capsys):
    assert top10(["explain", *argv, "--data-root", str(data_root)]) == 2


def test_expired_archive_exits_3_but_published_videos_are_still_explained(day, capsys):
    s, layout = day
    archive_and_cleanup(s, DAY)
    cleanup_archives(s, DAY + dt.timedelta(days=s.retention_days + 1))
    assert not layout.archive_dir.exists() and layout.manifest.exists()
    expired = explain(s, FOREIGN, DAY)
    assert expired.exit_code == 3 and expired.data == "expired" and "expired" in expired.note
    assert top10(["explain", FOREIGN, "--day", DAY.isoformat(), "--data-root", str(s.data_root)]) == 3
    assert _outcome(s, KEPT).outcome == "published"


def test_video_id_of_urls_and_ids():
    assert video_id_of(KEPT) == KEPT
    assert video_id_of(f"https://www.tiktok.com/@a.b_c/photo/{KEPT}") == KEPT
    with pytest.raises(ValueError):
        video_id_of(f"https://www.tiktok.com.evil.example/@a/video/{KEPT}")
