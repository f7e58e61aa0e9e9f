"""``top10 explain`` on a published day built like the pipeline leaves it: make_day's stage outputs, the real
publish, then the real archive step (raw/ and work/ moved to the residual archive)."""

import datetime as dt
import json

import pytest

from tiktok_top10.cli import main as top10
from tiktok_top10.explain import explain, video_id_of
from tiktok_top10.publish import publish_day
from tiktok_top10.retention import archive_and_cleanup, cleanup_archives
from tiktok_top10.storage import atomic_write_jsonl, read_json, read_jsonl

DAY = dt.date(2026, 11, 22)
PREVIOUS = DAY - dt.timedelta(days=1)
IDS = [str(7300000000000000000 + i) for i in range(16)]
FOREIGN, DUPLICATE, NO_COVER, BROKEN_COVER, REUPLOAD, KEPT = (IDS[i] for i in range(6))
BELOW_CUT = IDS[14]
ORIGINAL = "7200000000000000777"  # published the day before; IDS[4] is its re-upload
UNSEEN = "7999999999999999999"


def _rewrite(path, change):
    rows = list(read_jsonl(path))
    for row in rows:
        change(row)
    atomic_write_jsonl(path, rows)


@pytest.fixture
def day(settings, make_day):
    """A published ``dance`` day: a foreign video, a duplicate, a cover the crawl could not download, a cover
    publish could not decode, a re-upload of yesterday's #2, ten published and two below the cut."""
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

    def dedup_evidence(row):
        if row["id"] == DUPLICATE:
            row["similarity"] = 0.9312
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
