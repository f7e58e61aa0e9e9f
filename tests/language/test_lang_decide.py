"""The decision rules on the real lingua detector, including both failure modes of the original filter."""

from __future__ import annotations

import pytest

from tiktok_top10.language import Candidate, Detection, KoreanFilter, LinguaDetector


class FixedDetector:
    """A detector whose answer a test chooses (to reach the 'cannot tell' path lingua rarely takes)."""

    name = "fixed"
    cache_id = "fixed"

    def __init__(self, detection: Detection):
        self.detection = detection
        self.seen: list[str] = []

    def detect(self, texts):
        self.seen.extend(texts)
        return [self.detection for _ in texts]


@pytest.fixture(scope="module")
def lingua_filter():
    return KoreanFilter(LinguaDetector())


def test_untitled_video_is_decided_on_the_nickname_not_a_placeholder(lingua_filter):
    korean_creator = lingua_filter.decide("", "틱톡맨")
    assert (korean_creator.korean, korean_creator.basis, korean_creator.detector) == (True, "author", "script")
    foreign_creator = lingua_filter.decide("", "Sophie Martin")
    assert (foreign_creator.korean, foreign_creator.basis) == (False, "author")


def test_foreign_caption_with_one_korean_hashtag_is_foreign(lingua_filter):
    for caption, language in [
        ("Hoy vamos a preparar una receta muy fácil con mi abuela #추천", "es"),
        ("今日は友達と一緒に新しいダンスを練習しました #추천", "ja"),
        ("Tôi đã nghĩ ra vũ đạo mới cho bài hát này #추천", "vi"),
    ]:
        decision = lingua_filter.decide(caption, "")
        assert not decision.korean, caption
        assert decision.language == language and decision.basis == "title"


def test_no_words_anywhere_is_rejected_with_basis_none(lingua_filter):
    for title, author in [("", ""), ("😂🔥✨", "🥐"), ("#fyp #추천", "🐨"), ("", "user3291767576763")]:
        decision = lingua_filter.decide(title, author)
        assert (decision.korean, decision.language, decision.basis) == (False, None, "none"), (title, author)


def test_emoji_only_caption_falls_back_to_the_nickname(lingua_filter):
    decision = lingua_filter.decide("😂🔥✨", "민경")
    assert (decision.korean, decision.basis) == (True, "author")


def test_jamo_only_caption_is_korean_without_a_detector():
    detector = FixedDetector(Detection("en", 0.99))
    decision = KoreanFilter(detector).decide("ㅋㅋㅋㅋ ㅠㅠ", "someone")
    assert (decision.korean, decision.language, decision.basis, decision.detector) == (True, "ko", "title", "script")
    assert detector.seen == []


def test_very_long_caption_is_decided_on_a_clipped_text():
    detector = FixedDetector(Detection("en", 0.99))
    caption = "This is a really long English caption about cooking. " * 200
    decision = KoreanFilter(detector).decide(caption, "")
    assert not decision.korean and decision.language == "en"
    assert len(detector.seen) == 1 and len(detector.seen[0]) == 500


def test_very_long_korean_caption_is_korean(lingua_filter):
    caption = "오늘은 친구들이랑 같이 새로운 춤을 연습했어요 " * 300 + "#추천 #fyp"
    assert lingua_filter.decide(caption, "").korean


def test_korean_nickname_does_not_rescue_a_foreign_caption(lingua_filter):
    decision = lingua_filter.decide("Real strawberry, tangerine and watermelon rice cake for dessert", "후바")
    assert (decision.korean, decision.basis, decision.language) == (False, "title", "en")


def test_mixed_korean_english_caption_by_a_korean_creator_is_korean(lingua_filter):
    caption = "2025 years new trend mash-up dance 🔥 어떤 트렌드가 가장 좋아요? #fyp #dance"
    assert lingua_filter.decide(caption, "서준 SeoJun").korean
    # One Korean word in a long English caption by a non-Korean account stays foreign.
    assert not lingua_filter.decide(
        "I tried the viral dance from the show and my whole family joined in tonight 대박", "Cindy"
    ).korean


def test_korean_hashtags_are_weak_evidence_for_a_weak_text_only(lingua_filter):
    tags_only = lingua_filter.decide("#문신 #소녀 #미녀 #춤 #인기", "Andy")
    assert tags_only.korean and tags_only.basis == "author" and tags_only.confidence < 1
    # A full English sentence is not weak: Korean hashtags do not flip it.
    assert not lingua_filter.decide("had to try that viral trend with my sister #후드잡샷 #춤 #밈", "Cindy").korean


def test_undetermined_text_is_never_korean():
    decision = KoreanFilter(FixedDetector(Detection(None, None)), use_hashtags=False).decide("zzzz qqqq", "")
    assert (decision.korean, decision.language, decision.basis) == (False, None, "title")


def test_text_language_tips_a_weak_text_only_when_enabled():
    weak = FixedDetector(Detection("en", 0.3))
    assert not KoreanFilter(weak).decide("wow", "", text_language="ko").korean
    assert KoreanFilter(weak, use_text_language=True).decide("wow", "", text_language="ko").korean
    sure = FixedDetector(Detection("en", 0.95))
    assert not KoreanFilter(sure, use_text_language=True).decide(
        "a whole English sentence about dinner tonight", "", text_language="ko"
    ).korean


def test_same_text_is_detected_once_per_batch():
    detector = FixedDetector(Detection("en", 0.9))
    KoreanFilter(detector).decide_many([])
    from tiktok_top10.language import Candidate

    KoreanFilter(detector).decide_many([Candidate("hello there friends", ""), Candidate("hello there friends #a", "x")])
    assert detector.seen == ["hello there friends"]


ISSUE_17_FOREIGN = [
    ("今日のランチ #먹방 #추천 #한국", "ja"),
    ("太好笑了 #먹방 #추천 #한국", "zh"),
    ("อร่อย #먹방 #추천 #한국", "th"),
]


def test_a_caption_in_its_own_script_is_not_made_korean_by_hashtags(lingua_filter):
    for caption, language in ISSUE_17_FOREIGN:
        decision = lingua_filter.decide(caption, "한국인")
        assert (decision.korean, decision.language, decision.basis, decision.rule) == (
            False, language, "title", "foreign-script"), caption
        # Before the rule (switched off), the three Korean hashtags tipped each of them.
        assert KoreanFilter(LinguaDetector(), foreign_script_rule=False).decide(caption, "한국인").korean, caption
    # Cyrillic: lingua's restricted set cannot name Russian, the script still says foreign.
    cyrillic = lingua_filter.decide("Очень вкусно #먹방 #추천", "")
    assert (cyrillic.korean, cyrillic.rule) == (False, "foreign-script")


def test_the_script_rule_also_blocks_text_language():
    weak_ja = FixedDetector(Detection("ja", 0.3))
    decision = KoreanFilter(weak_ja, use_text_language=True).decide("草", "", text_language="ko")
    assert (decision.korean, decision.language, decision.rule) == (False, "ja", "foreign-script")
    assert KoreanFilter(weak_ja, use_text_language=True, foreign_script_rule=False).decide(
        "草", "", text_language="ko").korean


def test_a_short_latin_caption_with_korean_hashtags_stays_korean(lingua_filter):
    decision = lingua_filter.decide("so good #먹방 #추천", "")
    assert (decision.korean, decision.language, decision.rule) == (True, "ko", "hashtags")


def test_mixed_hangul_and_kana_keeps_the_hangul_rules(lingua_filter):
    caption = "今日のランチ 진짜 맛있다 #먹방 #추천"
    ours = lingua_filter.decide(caption, "")
    before = KoreanFilter(LinguaDetector(), foreign_script_rule=False).decide(caption, "")
    assert ours == before and ours.korean and ours.rule == "mixed-hangul"


def test_the_script_rule_judges_the_caption_not_the_nickname(lingua_filter):
    # No caption words: the nickname is the basis and an all-Korean hashtag line stays weak evidence.
    decision = lingua_filter.decide("#먹방 #추천 #한국", "山田")
    assert (decision.korean, decision.basis, decision.rule) == (True, "author", "hashtags")


def test_every_decision_names_its_rule_in_the_row_and_the_counts():
    korean_filter = KoreanFilter(LinguaDetector())
    decisions = korean_filter.decide_many(
        [Candidate(caption, "") for caption, _ in ISSUE_17_FOREIGN]
        + [Candidate("so good #먹방 #추천", ""), Candidate("오늘 점심", ""), Candidate("", "")]
    )
    assert [d.row()["rule"] for d in decisions] == [
        "foreign-script", "foreign-script", "foreign-script", "hashtags", "all-hangul", "no-words"]
    rules = korean_filter.stats.rules
    assert (rules["foreign-script"], rules["hashtags"], rules["all-hangul"], rules["no-words"]) == (3, 1, 1, 1)
    assert rules["text-language"] == 0  # every rule is counted, so the summary always has the same keys


def test_the_language_stage_writes_the_rule_per_row_and_counts_it(tmp_path):
    import datetime as dt

    from tiktok_top10 import storage
    from tiktok_top10.config import Settings
    from tiktok_top10.language import run_language
    from tiktok_top10.models import VideoItem, canonical_url

    day = dt.date(2026, 1, 10)
    layout = storage.DayLayout(tmp_path, day)
    captions = {"8001": ISSUE_17_FOREIGN[0][0], "8002": ISSUE_17_FOREIGN[2][0], "8003": "so good #먹방 #추천"}
    storage.atomic_write_jsonl(layout.raw_items("food"), [
        VideoItem(id=i, category="food", title=title, author_nickname="먹방러", author_unique_id=f"u{i}", views=1000,
                  likes=10, url=canonical_url(f"u{i}", i)).to_json()
        for i, title in captions.items()
    ])
    storage.atomic_write_jsonl(layout.work_dir / "dedup.jsonl", [
        {"key": f"food/{i}", "category": "food", "id": i, "status": "kept", "duplicate_of": None, "similarity": None,
         "reason": None, "matched_history": None}
        for i in captions
    ])
    rows = {r["id"]: r for r in storage.read_jsonl(run_language(Settings(data_root=tmp_path, detector="lingua"), day))}
    assert {i: (r["korean"], r["rule"]) for i, r in rows.items()} == {
        "8001": (False, "foreign-script"), "8002": (False, "foreign-script"), "8003": (True, "hashtags")}
    summary = storage.read_json(layout.work_dir / "language_summary.json")
    assert (summary["rule_foreign_script"], summary["rule_hashtags"], summary["rule_text_language"]) == (2, 1, 0)
