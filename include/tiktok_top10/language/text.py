"""Caption normalisation and Unicode-script evidence.

A TikTok caption is a few words buried in hashtags, @mentions, links and emoji.  The original filter ran its
detector on the raw caption, so ``"Hola amigos #추천"`` passed as Korean.  Here the caption is split into the
words a viewer reads (``words``) and the hashtags (kept apart as weak evidence only).  Hangul Jamo such as
``ㅋㅋ`` are letters and stay: they are Korean and nothing else.

Script is strong evidence by itself: Hangul is written only for Korean, so a text whose words are all Hangul is
Korean without asking any detector, and a text with no letters at all can be decided locally too (it has no
language).  Only texts that mix scripts or use a script shared by many languages need a detector.

The other way round, a text written in a script that belongs to other languages (kana, Han, Thai, Cyrillic,
Arabic, Devanagari, ...) and has no Hangul is not Korean however Korean its hashtags are: ``own_script``.  Latin is
not such a script here: it is shared by many languages and Korean creators write short English captions in it.
The script of a letter is its Unicode ``Script`` property (the ``regex`` package), not a hand-kept range table.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex

URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# TikTok hashtags run until whitespace or the next '#'/'@' ("#먹방#asmr" is two tags); '＃' is the full-width form.
HASHTAG = re.compile(r"[#＃]([^\s#＃@]+)")
# A mention's nickname may contain spaces on TikTok; without textExtra offsets we take the first token only.
MENTION = re.compile(r"@[^\s#＃@]+")
# Tokens that are handles or ids, not words: letters glued to '_', digits mixed into Latin, dotted/colon parts.
HANDLE_LIKE = re.compile(r"_|[A-Za-z][0-9]|[0-9][A-Za-z]|[A-Za-z0-9][.:/][A-Za-z0-9]")

HANGUL_RANGES = (
    (0x1100, 0x11FF),  # Jamo
    (0x3130, 0x318F),  # compatibility Jamo (ㅋㅋ, ㅠㅠ)
    (0xA960, 0xA97F),  # Jamo extended-A
    (0xAC00, 0xD7AF),  # syllables
    (0xD7B0, 0xD7FF),  # Jamo extended-B
    (0xFFA0, 0xFFDC),  # half-width Jamo
)


def is_hangul(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in HANGUL_RANGES)


# A letter of a script that some language owns: anything but Latin (shared by many languages), Hangul (decided by
# the Hangul rules), and Common/Inherited, which are letters of no one language: the kana prolonged-sound mark ー,
# styled Unicode letters such as 𝓵𝓸𝓿𝓮, combining marks.
OWN_SCRIPT_LETTER = regex.compile(r"[^\p{Script=Latin}\p{Script=Hangul}\p{Script=Common}\p{Script=Inherited}]")


def is_own_script(ch: str) -> bool:
    """True for a letter of a script that belongs to particular languages (kana, Han, Thai, Cyrillic, ...)."""
    return ch.isalpha() and OWN_SCRIPT_LETTER.match(ch) is not None


def _clean_symbols(text: str) -> str:
    """Drop emoji, decorative symbols and control/format characters; keep letters, combining marks, digits."""
    out: list[str] = []
    prev_letter = False
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LN":
            out.append(ch)
            prev_letter = cat[0] == "L"
        elif cat[0] == "M":
            # Thai vowels and decomposed Vietnamese tones are marks on letters; a mark on nothing is decoration.
            if prev_letter:
                out.append(ch)
        elif cat[0] == "Z" or ch in "\t\n\r":
            out.append(" ")
            prev_letter = False
        elif cat[0] == "P" and ch in ".,!?'’-~()\"":
            out.append(ch)
            prev_letter = False
        else:  # S* (emoji, ★, ♡, ≧), C* (ZWJ, variation selectors), other punctuation
            out.append(" ")
            prev_letter = False
    return "".join(out)


def _is_word(token: str) -> bool:
    return any(ch.isalpha() for ch in token)


@dataclass(frozen=True)
class ScriptProfile:
    """How the words of a text split across scripts (counted per word, by the script of most of its letters)."""

    words: int
    hangul_words: int
    letters: int
    hangul_letters: int
    own_script_words: int = 0  # words at least half of whose letters are of an own script (``is_own_script``)

    @property
    def hangul_share(self) -> float:
        return self.hangul_words / self.words if self.words else 0.0

    @property
    def all_hangul(self) -> bool:
        return self.words > 0 and self.hangul_words == self.words

    @property
    def any_hangul(self) -> bool:
        return self.hangul_letters > 0

    @property
    def own_script(self) -> bool:
        """No Hangul, and most words are written in a script of other languages.

        Most, not any: ``so good (づ｡◕‿◕｡)づ`` is a Latin caption whose kaomoji leaves two hiragana "words".
        """
        return not self.any_hangul and 2 * self.own_script_words > self.words


def profile(text: str) -> ScriptProfile:
    words = hangul_words = letters = hangul_letters = own_script_words = 0
    for token in text.split():
        token_letters = [ch for ch in token if ch.isalpha()]
        if not token_letters:
            continue
        words += 1
        n_hangul = sum(1 for ch in token_letters if is_hangul(ch))
        letters += len(token_letters)
        hangul_letters += n_hangul
        # A Hangul syllable packs 2-3 sounds, so "설기양SULGI" (3 of 8 letters) reads as a Korean word.
        if n_hangul * 3 >= len(token_letters):
            hangul_words += 1
        if 2 * sum(1 for ch in token_letters if is_own_script(ch)) >= len(token_letters):
            own_script_words += 1
    return ScriptProfile(words, hangul_words, letters, hangul_letters, own_script_words)


@dataclass(frozen=True)
class NormalizedText:
    """What is left of a caption or nickname for deciding its language."""

    words: str  # the readable words, space-joined; '' when there are none
    hashtags: tuple[str, ...]
    profile: ScriptProfile

    @property
    def has_words(self) -> bool:
        return self.profile.words > 0

    @property
    def korean_hashtags(self) -> int:
        return sum(1 for tag in self.hashtags if profile(tag).all_hangul)


def normalize(text: str | None, *, strip_tags: bool = True) -> NormalizedText:
    """Split ``text`` into readable words and hashtags.

    ``strip_tags=False`` is the original's behaviour (the raw caption is the text, hashtags and emoji included),
    kept so the evaluation can measure what normalising buys.
    """
    text = unicodedata.normalize("NFC", text or "")
    if not strip_tags:
        words = " ".join(text.split())
        return NormalizedText(words=words, hashtags=(), profile=profile(words))
    hashtags = tuple(_clean_symbols(m).strip() for m in HASHTAG.findall(text))
    hashtags = tuple(tag for tag in hashtags if tag)
    body = MENTION.sub(" ", URL.sub(" ", text))
    # Handles ("Insta:xx_one__", "user3291767576763") are judged before symbols are dropped: ':' and '_' matter.
    body = " ".join(tok for tok in HASHTAG.sub(" ", body).split() if not HANDLE_LIKE.search(tok))
    words = " ".join(tok for tok in _clean_symbols(body).split() if _is_word(tok))
    return NormalizedText(words=words, hashtags=hashtags, profile=profile(words))
