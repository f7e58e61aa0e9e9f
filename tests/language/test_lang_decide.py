"""The decision rules on the real lingua detector, including both failure modes of the original filter."""

from __future__ import annotations

import pytest

from tiktok_top10.language import Detection, KoreanFilter, LinguaDetector


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
