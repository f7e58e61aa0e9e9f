"""tiktok_top10.gallery on a fixture data root: what counts as published, latest, safe paths, zips."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from tiktok_top10 import gallery
from tiktok_top10.config import CATEGORIES

from .conftest import (
    COMPLETE_DAY,
    NEXT_DAY,
    NEXT_DUPLICATE,
    NEXT_FOREIGN,
    PARTIAL_DAY,
    PNG_COVER,
    UNSEEN_VIDEO,
    complete_day_url,
)


def test_published_days_newest_first_ignoring_symlinked_day_outside_root(published_root):
    assert gallery.list_published_days(published_root) == [NEXT_DAY, COMPLETE_DAY, PARTIAL_DAY]


def test_latest_follows_latest_json_then_falls_back_to_newest(published_root, tmp_path):
    assert gallery.latest_day(published_root) == COMPLETE_DAY
    root = tmp_path / "data"
    (root / PARTIAL_DAY).mkdir(parents=True)
    (root / PARTIAL_DAY / "manifest.json").write_text("{}")
    (root / "latest.json").write_text(json.dumps({"day": "2030-01-01"}))  # names an unpublished day
    assert gallery.latest_day(root) == PARTIAL_DAY
    (root / "latest.json").write_text("not json")
    assert gallery.latest_day(root) == PARTIAL_DAY
    assert gallery.latest_day(tmp_path / "missing") is None


def test_load_day_reads_items_and_manifest_in_category_order(published_root):
    view = gallery.load_day(published_root, COMPLETE_DAY)
    assert list(view.top10) == list(CATEGORIES)
    assert all(len(items) == 10 for items in view.top10.values())
    assert view.top10["dance"][0]["id"] == "dance01"
    assert view.manifest["status"] == "complete"
    partial = gallery.load_day(published_root, PARTIAL_DAY)
    assert list(partial.top10) == ["main", "dance"]


def test_missing_manifest_keys_and_missing_manifest_are_tolerated(tmp_path):
    root = tmp_path / "data"
    top10 = root / COMPLETE_DAY / "tts" / "top10"
    top10.mkdir(parents=True)
    (top10 / "tts_top10.json").write_text("[]")
    view = gallery.load_day(root, COMPLETE_DAY)
    assert view.manifest == {} and view.top10 == {}
    (root / COMPLETE_DAY / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        gallery.load_day(root, COMPLETE_DAY)


@pytest.mark.parametrize(
    "day, category, parts",
    [
        ("..", "main", ("main_top10.json",)),
        ("2026-01-10/..", "main", ("x",)),
        ("2026-13-40", "main", ("x",)),
        (COMPLETE_DAY, "../main", ("x",)),
        (COMPLETE_DAY, "raw", ("items.jsonl",)),
        (COMPLETE_DAY, "main", ("..", "..", "manifest.json")),
        (COMPLETE_DAY, "main", ("thumbnails/../../raw",)),
        (COMPLETE_DAY, "main", (".hidden",)),
        (COMPLETE_DAY, "main", ("a%2f..",)),
        (COMPLETE_DAY, "main", ("thumbnails", "escape.jpg")),  # symlink to a file outside the root
        ("2026-01-08", "main", ("main_top10.json",)),  # day folder is a symlink out of the root
    ],
)
def test_unsafe_paths_are_refused(published_root, day, category, parts):
    with pytest.raises(gallery.UnsafePath):
        gallery.resolve_published_file(published_root, day, category, *parts)


def test_published_file_resolves_and_absent_file_is_not_published(published_root):
    path = gallery.resolve_published_file(published_root, COMPLETE_DAY, "main", "thumbnails", "main01.jpg")
    assert path.is_file() and gallery.sniff_content_type(path) == "image/jpeg"
    with pytest.raises(gallery.NotPublished):
        gallery.resolve_published_file(published_root, COMPLETE_DAY, "main", "thumbnails", "main99.jpg")


def test_content_type_comes_from_bytes_not_extension(published_root):
    category, rank = PNG_COVER
    path = gallery.resolve_published_file(
        published_root, COMPLETE_DAY, category, "thumbnails", f"{category}{rank:02d}.jpg"
    )
    assert gallery.sniff_content_type(path) == "image/png"


def test_day_zip_holds_top10_folders_and_manifest_only(published_root):
    names = zipfile.ZipFile(io.BytesIO(gallery.build_zip(published_root, COMPLETE_DAY))).namelist()
    assert f"{COMPLETE_DAY}/manifest.json" in names
    for category in CATEGORIES:
        assert f"{COMPLETE_DAY}/{category}/top10/{category}_top10.json" in names
        assert sum(n.startswith(f"{COMPLETE_DAY}/{category}/top10/thumbnails/") for n in names) == 10
    assert not any("escape" in n for n in names)  # the symlink out of the root is skipped
    assert len(names) == 5 * 11 + 1


def test_category_zip_and_unpublished_zip(published_root):
    archive = zipfile.ZipFile(io.BytesIO(gallery.build_zip(published_root, PARTIAL_DAY, "dance")))
    names = archive.namelist()
    assert len(names) == 11 and all(n.startswith(f"{PARTIAL_DAY}/dance/top10/") for n in names)
    assert json.loads(archive.read(f"{PARTIAL_DAY}/dance/top10/dance_top10.json"))[0]["id"] == "dance01"
    assert archive.testzip() is None
    with pytest.raises(gallery.NotPublished):
        gallery.build_zip(published_root, PARTIAL_DAY, "food")
    with pytest.raises(gallery.UnsafePath):
        gallery.build_zip(published_root, PARTIAL_DAY, "work")


def test_page_html_comes_from_autoescaped_templates(published_root, tmp_path):
    """Captions, nicknames and manifest values are data: markup in them is shown, never run."""
    import json
    import shutil

    root = tmp_path / "data"
    shutil.copytree(published_root / COMPLETE_DAY, root / COMPLETE_DAY, symlinks=True)
    top10 = root / COMPLETE_DAY / "main" / "top10" / "main_top10.json"
    entries = json.loads(top10.read_text(encoding="utf-8"))
    entries[0]["title"] = "<script>alert(1)</script> 춤 & 노래"
    entries[0]["author"] = "\"><img src=x onerror=alert(2)>"
    top10.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    manifest_path = root / COMPLETE_DAY / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["language_rejected"].append({"key": "tts/1", "language": "<b>ja</b>", "basis": "title", "detector": "x"})
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")

    page = gallery.render_day_page(gallery.load_day(root, COMPLETE_DAY), [COMPLETE_DAY], "/top10-gallery")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; 춤 &amp; 노래" in page
    assert "<img src=x" not in page and page.count("<img ") == 50
    assert "<b>ja</b>" not in page and "&lt;b&gt;ja&lt;/b&gt;" in page
    assert "<td>tts/7400000000000000999</td><td>ja</td><td>title</td><td>lingua</td>" in page
    assert "dance/7400000000000000555 (similarity 0.931)" in page and "Duplicates removed (1)" in page
    assert f"/top10-gallery/download/{COMPLETE_DAY}/main.zip" in page
    empty = gallery.render_empty_page(Path("/data/<root>"))
    assert "/data/&lt;root&gt;" in empty


def test_cards_show_rank_movement_from_schema_v2_fields(published_root, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(published_root / COMPLETE_DAY, root / COMPLETE_DAY, symlinks=True)
    top10 = root / COMPLETE_DAY / "dance" / "top10" / "dance_top10.json"
    entries = json.loads(top10.read_text(encoding="utf-8"))
    previous = [4, 1, None, 4, None, 6, 7, 8, 9, 10]  # dance01 climbed 3, dance02 fell 1, 03/05 are new
    for rank, (entry, before) in enumerate(zip(entries, previous, strict=True), 1):
        entry.update(rank=rank, previousRank=before)
    top10.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")

    page = gallery.render_day_page(gallery.load_day(root, COMPLETE_DAY), [COMPLETE_DAY], "/top10-gallery")
    dance = page.split('data-category="dance"', 1)[1].split("<h2", 1)[0]
    badges = [card.split('<span class="move ', 1)[1].split("</span>", 1)[0] for card in dance.split('class="card"')[1:]]
    assert badges[:5] == ['up" title="previous rank 4">▲3', 'down" title="previous rank 1">▼1',
                          'new" title="not ranked on the previous day">NEW', 'same" title="previous rank 4">–',
                          'new" title="not ranked on the previous day">NEW']
    # files written before schema v2 carry no ranks: no badge rather than a wrong "NEW"
    assert page.count('<span class="move ') == 10
    assert gallery.movement({"rank": 2}) is None and gallery.movement({"rank": 2, "previousRank": 5}) == ("up", "▲3")


# --- movement, day over day, "why (not) in the Top-10?" -----------------------------------------------------------


def test_day_page_shows_movement_badges_the_search_box_and_day_over_day_links(published_root):
    html = gallery.render_day_page(gallery.load_day(published_root, NEXT_DAY),
                                   gallery.list_published_days(published_root), "/top10-gallery")
    badges = re.findall(r'<span class="move (\w+)"[^>]*>([^<]+)</span>', html)
    assert badges[:5] == [("up", "▲2"), ("new", "NEW"), ("down", "▼2"), ("down", "▼2"), ("same", "–")]
    assert badges[10:] == [("up", "▲3")] + [("new", "NEW")] * 9  # dance
    assert 'action="/top10-gallery/explain"' in html and "Why (not) in the Top-10?" in html
    assert f'<option value="{NEXT_DAY}" selected>' in html
    assert f'href="/top10-gallery/compare/{NEXT_DAY}/main"' in html
    # a v1 file (no rank/previousRank) has no badges, not "NEW" everywhere
    v1 = gallery.render_day_page(gallery.load_day(published_root, COMPLETE_DAY), [COMPLETE_DAY], "")
    assert 'class="move' not in v1


def test_compare_follows_previous_rank_including_the_re_upload(published_root):
    view = gallery.compare_category(published_root, NEXT_DAY, "main")
    assert view.previous_day == COMPLETE_DAY  # the manifest's previous_day
    assert [r.move[1] for r in view.rows] == ["▲2", "NEW", "▼2", "▼2", "–"] + ["NEW"] * 5
    # COMPLETE_DAY's #2 left under its URL but came back re-uploaded at #4: it stayed, by previousRank
    assert [r.move[1] for r in view.previous_rows] == ["→ 3", "→ 4", "→ 1", "OUT", "→ 5"] + ["OUT"] * 5
    assert (view.entered, view.left) == (6, 6)
    html = gallery.render_compare_page(view, "/g")
    assert f"{COMPLETE_DAY} → {NEXT_DAY}: 6 new, 6 dropped out" in html
    assert html.count('<li class="row before">') == 10 and html.count('<li class="row now">') == 10
    assert f'src="/g/files/{COMPLETE_DAY}/main/thumbnails/main01.jpg"' in html
    assert f'src="/g/files/{NEXT_DAY}/main/thumbnails/main01.jpg"' in html


def test_compare_of_v1_files_matches_by_url_and_knows_a_first_day(published_root):
    view = gallery.compare_category(published_root, COMPLETE_DAY, "main")
    assert view.previous_day == PARTIAL_DAY  # no previous_day in the manifest: the newest earlier day with main
    assert [r.move for r in view.previous_rows] == [("now", f"→ {n}") for n in range(1, 11)]
    assert all(r.move is None for r in view.rows)  # v1: no badges
    first = gallery.compare_category(published_root, PARTIAL_DAY, "dance")
    assert first.previous_day is None and first.previous_rows == [] and first.entered == 10
    assert "No earlier published day of dance" in gallery.render_compare_page(first, "")
    with pytest.raises(gallery.NotPublished):
        gallery.compare_category(published_root, NEXT_DAY, "food")
    with pytest.raises(gallery.UnsafePath):
        gallery.compare_category(published_root, NEXT_DAY, "../main")


def test_explain_answer_is_the_clis_answer(published_root, capsys):
    from tiktok_top10.cli import main as top10
    from tiktok_top10.config import Settings

    settings = Settings(data_root=published_root)
    cases = {complete_day_url("main", 3): ("published", 0),  # NEXT_DAY main #1, its URL
             NEXT_DUPLICATE: ("duplicate", 0),
             NEXT_FOREIGN: ("not_korean", 0), UNSEEN_VIDEO: (None, 1)}
    for video, (outcome, code) in cases.items():
        answer = gallery.explain_answer(settings, video, NEXT_DAY)
        assert answer.exit_code == code == answer.json["exit_code"]
        assert [o["outcome"] for o in answer.json["outcomes"]] == ([outcome] if outcome else [])
        capsys.readouterr()
        assert top10(["explain", video, "--day", NEXT_DAY, "--json", "--data-root", str(published_root)]) == code
        assert json.loads(capsys.readouterr().out) == {k: v for k, v in answer.json.items() if k != "exit_code"}
        assert top10(["explain", video, "--day", NEXT_DAY, "--data-root", str(published_root)]) == code
        assert capsys.readouterr().out.rstrip("\n") == answer.text
    for video, day in (("not-a-video", NEXT_DAY), ("7410000000000000004", "2026-13-01"), ("", NEXT_DAY)):
        with pytest.raises(gallery.UnsafePath):
            gallery.explain_answer(settings, video, day)
    html = gallery.render_explain_page("/g", [NEXT_DAY], NEXT_DUPLICATE, NEXT_DAY,
                                       gallery.explain_answer(settings, NEXT_DUPLICATE, NEXT_DAY))
    assert '<span class="outcome duplicate">duplicate</span>' in html and 'data-exit-code="0"' in html
    assert "<script" not in gallery.render_explain_page("/g", [], "<script>alert(1)</script>", None, None, "bad")

