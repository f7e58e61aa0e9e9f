"""The Korean-content decision for one item: caption first, then nickname, else reject.

Rules, in order (each decision records language, confidence, basis and detector):

1. Normalise the caption (``text.normalize``). If words remain, the caption is the basis (``title``); if not,
   the nickname is (``author``); if neither has a word, the item is rejected with basis ``none``.  This fixes
   the original's first failure mode: an untitled video no longer borrows a Hangul placeholder title.
2. Words that are all Hangul (Jamo included: ``ㅋㅋ``) are Korean, confidence 1.0, detector ``script``: no
   detector call, no API cost.
3. Anything else goes to the detector.  Korean when the detector says ``ko``.  Mixed Korean/English captions
   are Korean content when enough of the words are Hangul: ``MIXED_SHARE`` of the words, or
   ``MIXED_SHARE_KOREAN_CREATOR`` when the nickname is Hangul too (a Korean creator writing half in English).
4. A caption with no Hangul whose words are mostly in a script of other languages (kana, Han, Thai, Cyrillic, ...:
   ``text.ScriptProfile.own_script``) is foreign, rule ``foreign-script``, before any hashtag or ``textLanguage``
   is counted: ``今日のランチ #먹방 #추천`` is Japanese whatever its tags say.  Latin is nobody's own script, so
   ``so good #먹방 #추천`` still goes on to rule 5.  Only the caption's words count: a caption without words is
   decided on the nickname, and an all-Korean hashtag line on it stays weak evidence.
5. Weak evidence, only for a weak text (no Hangul and fewer than ``WEAK_LETTERS`` letters, or a detector that
   is unsure): at least two hashtags that are Hangul, making up two thirds of the hashtags, tip it to Korean.
   One ``#추천`` never does — the original's second failure mode.  TikTok's ``textLanguage == "ko"`` can tip a
   weak text the same way when ``use_text_language`` is on (off by default: the reference crawls do not carry
   the field, so its benefit is unmeasured).
6. A detector that cannot tell (``und``) leaves the item undecided, and undecided is never Korean.

Every decision names the rule that made it (``Decision.rule``, one of ``RULES``): written in each language row
and counted in the stage summary (``rule_<name>``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cache import DetectionCache
from .detectors import (
    GOOGLE_BATCH_SIZE,
    Detection,
    Detector,
    DetectorError,
    clip,
)
from .text import NormalizedText, normalize

log = logging.getLogger(__name__)

MIXED_SHARE = 0.25
MIXED_SHARE_KOREAN_CREATOR = 0.1
WEAK_LETTERS = 10
WEAK_CONFIDENCE = 0.5
HASHTAG_EVIDENCE_CONFIDENCE = 0.6
SCRIPT = "script"  # decided from Unicode script alone; no detector consulted
# The rules a decision can come from, in the order the module docstring gives them.
RULES = ("no-words", "all-hangul", "detector", "mixed-hangul", "foreign-script", "hashtags", "text-language",
         "undetermined")


@dataclass(frozen=True)
class Candidate:
    title: str = ""
    author: str = ""
    text_language: str | None = None


@dataclass(frozen=True)
class Decision:
    korean: bool
    language: str | None
    confidence: float | None
    basis: str  # "title" | "author" | "none"
    detector: str  # "script" | "lingua" | "google" | "cache:<detector>"
    rule: str = ""  # which of RULES decided: written per row, counted in the summary

    def row(self) -> dict:
        return {
            "korean": self.korean,
            "language": self.language,
            "confidence": self.confidence,
            "basis": self.basis,
            "detector": self.detector,
            "rule": self.rule,
        }


@dataclass
class FilterStats:
    decided_by_script: int = 0
    detector_texts: int = 0
    cache_hits: int = 0
    fallback_used: bool = False
    fallback_reason: str | None = None
    rules: dict = field(default_factory=lambda: dict.fromkeys(RULES, 0))  # every rule, so the summary's keys are fixed


@dataclass(frozen=True)
class _Pending:
    basis: str
    text: NormalizedText
    caption: NormalizedText
    author: NormalizedText
    text_language: str | None


class KoreanFilter:
    """Decides Korean content for items; asks ``detector`` only what the script rules cannot settle.

    ``fallback``: a detector used when ``detector`` fails (``DetectorError``) — only when the operator allowed
    it; otherwise the error propagates and the task fails (Airflow retries it).
    ``foreign_script_rule=False`` turns rule 4 off: the decisions made before it existed, which the evaluation
    compares against (Latin-script captions must not change).
    """

    def __init__(
        self,
        detector: Detector,
        *,
        cache_dir: Path | None = None,
        fallback: Detector | None = None,
        normalize_text: bool = True,
        use_hashtags: bool = True,
        use_text_language: bool = False,
        foreign_script_rule: bool = True,
    ):
        self.detector = detector
        self.fallback = fallback
        self.cache_dir = cache_dir
        self.normalize_text = normalize_text
        self.use_hashtags = use_hashtags and normalize_text
        self.use_text_language = use_text_language
        self.foreign_script_rule = foreign_script_rule
        self.stats = FilterStats()
        self._caches: dict[str, DetectionCache] = {}

    def cache_for(self, detector: Detector) -> DetectionCache:
        if detector.cache_id not in self._caches:
            self._caches[detector.cache_id] = DetectionCache(self.cache_dir, detector.cache_id)
        return self._caches[detector.cache_id]

    def decide(self, title: str = "", author: str = "", text_language: str | None = None) -> Decision:
        return self.decide_many([Candidate(title, author, text_language)])[0]

    def decide_many(self, items: Sequence[Candidate]) -> list[Decision]:
        decisions: list[Decision | None] = [None] * len(items)
        pending: dict[int, _Pending] = {}
        for i, item in enumerate(items):
            caption = normalize(item.title, strip_tags=self.normalize_text)
            author = normalize(item.author, strip_tags=self.normalize_text)
            if caption.has_words:
                basis, text = "title", caption
            elif author.has_words:
                basis, text = "author", author
            else:
                decisions[i] = self._count(Decision(False, None, None, "none", SCRIPT, "no-words"))
                continue
            if text.profile.all_hangul:
                decisions[i] = self._count(Decision(True, "ko", 1.0, basis, SCRIPT, "all-hangul"))
                continue
            pending[i] = _Pending(basis, text, caption, author, item.text_language)

        detections = self._detect(sorted({clip(p.text.words) for p in pending.values()}))
        for i, p in pending.items():
            detection, source = detections[clip(p.text.words)]
            decisions[i] = self._count(self._combine(p, detection, source))
        return decisions  # type: ignore[return-value]

    def _count(self, decision: Decision) -> Decision:
        if decision.detector == SCRIPT:
            self.stats.decided_by_script += 1
        self.stats.rules[decision.rule] = self.stats.rules.get(decision.rule, 0) + 1
        return decision

    def _combine(self, p: _Pending, d: Detection, source: str) -> Decision:
        prof = p.text.profile
        if d.language == "ko":
            return Decision(True, "ko", d.confidence, p.basis, source, "detector")
        if prof.any_hangul:
            korean_creator = p.basis == "title" and p.author.profile.any_hangul
            threshold = MIXED_SHARE_KOREAN_CREATOR if korean_creator else MIXED_SHARE
            if prof.hangul_share >= threshold:
                return Decision(True, "ko", round(prof.hangul_share, 3), p.basis, source, "mixed-hangul")
        if self.foreign_script_rule and p.basis == "title" and prof.own_script:
            return Decision(False, d.language, d.confidence, p.basis, source, "foreign-script")
        weak = not prof.any_hangul and (
            prof.letters < WEAK_LETTERS or d.confidence is None or d.confidence < WEAK_CONFIDENCE
        )
        if weak and self.use_hashtags:
            tags = p.caption.hashtags
            n_korean = p.caption.korean_hashtags
            if n_korean >= 2 and 3 * n_korean >= 2 * len(tags):
                return Decision(True, "ko", HASHTAG_EVIDENCE_CONFIDENCE, p.basis, source, "hashtags")
        if weak and self.use_text_language and (p.text_language or "").lower().startswith("ko"):
            return Decision(True, "ko", HASHTAG_EVIDENCE_CONFIDENCE, p.basis, source, "text-language")
        if d.language is None:
            return Decision(False, None, None, p.basis, source, "undetermined")
        return Decision(False, d.language, d.confidence, p.basis, source, "detector")

    def _detect(self, texts: list[str]) -> dict[str, tuple[Detection, str]]:
        """Cached detections for ``texts``; the rest asked in batches, each batch cached as soon as it is paid."""
        out: dict[str, tuple[Detection, str]] = {}
        detector = self.detector
        cache = self.cache_for(detector)
        missing = []
        for text in texts:
            hit = cache.get(text)
            if hit is not None:
                out[text] = (hit, f"cache:{detector.name}")
                self.stats.cache_hits += 1
            else:
                missing.append(text)
        self.stats.detector_texts += len(missing)
        for start in range(0, len(missing), GOOGLE_BATCH_SIZE):
            chunk = missing[start : start + GOOGLE_BATCH_SIZE]
            try:
                found = detector.detect(chunk)
            except DetectorError as exc:
                if self.fallback is None or detector is self.fallback:
                    raise
                log.error(
                    "%s detector failed (%s); falling back to %s as allowed", detector.name, exc, self.fallback.name
                )
                self.stats.fallback_used = True
                self.stats.fallback_reason = str(exc)[:300]
                detector, cache = self.fallback, self.cache_for(self.fallback)
                found = detector.detect(chunk)
            cache.put_many(chunk, found)
            out.update({text: (det, detector.name) for text, det in zip(chunk, found, strict=True)})
        return out
