"""Caption and creator material for the demo: unambiguous sentences per language, Korean and foreign creators.

Ground truth must not depend on a detector's mood, so every Korean caption is a plain Korean sentence (Hangul
dominates), every foreign caption a clear sentence of its language, and captions that carry no language
(empty, emoji-only, hashtag-only) are paired with a creator whose nickname settles it.
"""

from __future__ import annotations

import random

KOREAN_SENTENCES = {
    "main": ("오늘 하루도 정말 고생 많으셨어요 모두 푹 쉬세요", "이 영상 보고 진짜 웃음이 멈추지 않았어요",
             "친구랑 같이 놀러 갔는데 날씨가 너무 좋았어요", "요즘 제일 많이 듣는 노래를 소개해 드릴게요",
             "강아지가 처음으로 눈을 보고 신나서 뛰어다녀요", "주말에 다녀온 바다 여행 브이로그입니다",
             "이거 보고 나서 생각이 완전히 바뀌었어요", "우리 동네에 새로 생긴 카페에 다녀왔어요"),
    "dance": ("이번 안무 연습하느라 일주일 내내 밤을 새웠어요", "요즘 유행하는 춤을 친구들이랑 같이 춰봤어요",
              "거울 모드로 천천히 따라 해 보세요 생각보다 쉬워요", "무대 위에서 추는 것처럼 열심히 연습했습니다",
              "동생이랑 같이 춤추는 영상을 처음 올려봐요", "이 노래 나오면 몸이 저절로 움직여요",
              "후렴 부분 동작이 제일 어려웠는데 드디어 성공했어요", "학교 축제에서 보여줄 안무를 미리 공개합니다"),
    "challenge": ("이번 챌린지 진짜 어려운데 끝까지 도전해 봤어요", "친구가 지목해서 저도 챌린지에 참여했어요",
                  "다음 챌린지 주인공은 바로 여러분입니다", "세 번 만에 성공한 챌린지 영상을 공개합니다",
                  "엄마랑 같이 유행하는 챌린지를 해 봤어요", "실패한 장면까지 모두 보여드릴게요",
                  "이 챌린지 성공하신 분들 댓글로 알려주세요", "회사 동료들과 점심시간에 챌린지를 찍었어요"),
    "food": ("오늘은 집에서 간단하게 만드는 김치볶음밥 레시피를 알려드릴게요", "매운 라면을 세 봉지나 먹어 봤어요",
             "엄마가 해주시던 된장찌개 맛을 그대로 살려봤어요", "편의점 음식으로 만드는 특별한 야식입니다",
             "떡볶이 소스는 이렇게 만들어야 제일 맛있어요", "시장에서 파는 호떡을 집에서 만들어 봤어요",
             "치킨 한 마리를 혼자 다 먹는 먹방입니다", "냉장고에 남은 재료로 맛있는 반찬을 만들었어요"),
    "tts": ("이 목소리 듣고 웃지 않으면 진짜 대단한 거예요", "인공지능 목소리로 읽어주는 무서운 이야기입니다",
            "고양이가 말을 한다면 아마 이렇게 말할 거예요", "오늘의 썰은 학교에서 있었던 황당한 일입니다",
            "자동 음성으로 들으면 더 웃긴 회사 이야기예요", "이 대사는 몇 번을 들어도 계속 웃겨요",
            "친구한테 보내면 바로 답장 오는 밈입니다", "로봇 목소리로 부르는 생일 축하 노래예요"),
}

KOREAN_MIXED = ("오늘 새로 배운 동작인데 생각보다 진짜 재밌어서 계속 연습하고 있어요 let's go",
                "이번 주말에 친구들이랑 다녀온 브이로그인데 완전 대박이었어요 so happy",
                "친구들이랑 같이 찍었는데 다들 너무 귀엽지 않나요 진짜 최고예요 cute",
                "드디어 몇 달 동안 연습한 동작을 성공했어요 너무 감동이에요 finally",
                "이 노래 요즘 매일 아침마다 듣고 있는데 질리지가 않아요 best song",
                "직접 먹어보니까 생각했던 것보다 훨씬 더 맛있었어요 yummy")

FOREIGN_SENTENCES = {
    "en": ("I tried this recipe at home and it turned out amazing", "Watch until the end because the twist is wild",
           "My dog finally learned how to open the door by himself", "This is the hardest dance I have ever learned",
           "We spent the whole weekend building this tiny house", "Nobody believed me when I told them this story"),
    "ja": ("今日は友達と一緒に新しいダンスを練習しました", "このレシピはとても簡単なので、ぜひ作ってみてください",
           "最後まで見てくれてありがとうございます", "猫がこんなに可愛い顔をするとは思わなかった"),
    "vi": ("Hôm nay mình sẽ hướng dẫn các bạn nấu món phở bò thật ngon", "Cảm ơn mọi người đã xem video của mình nhé",
           "Thử thách này khó hơn mình nghĩ rất nhiều", "Cuối tuần này chúng mình đi biển cùng nhau"),
    "zh": ("今天我们一起去吃了一家非常好吃的火锅店", "这个舞蹈我练习了一个星期终于学会了",
           "谢谢大家的支持，我们下次再见", "这只小猫真的太可爱了，我忍不住一直看"),
    "es": ("Hoy les enseño cómo preparar una paella deliciosa en casa", "No puedo creer que por fin lo logramos",
           "Este baile está de moda y todos lo están haciendo", "Gracias por ver mis videos, los quiero mucho"),
    "th": ("วันนี้เราจะมาทำอาหารไทยแบบง่ายๆ กันนะคะ", "ขอบคุณทุกคนที่ติดตามและให้กำลังใจเสมอ",
           "ท่าเต้นนี้ยากมากแต่สนุกมากเลย"),
    "id": ("Hari ini aku mau masak nasi goreng yang enak banget", "Terima kasih sudah menonton video aku sampai habis",
           "Tantangan ini ternyata jauh lebih sulit dari yang aku kira"),
}

KOREAN_HASHTAGS = {
    "main": ("일상", "브이로그", "웃긴영상", "추천", "틱톡"),
    "dance": ("춤", "댄스", "안무", "커버댄스", "추천"),
    "challenge": ("챌린지", "인기챌린지", "도전", "추천", "틱톡챌린지"),
    "food": ("먹방", "요리", "레시피", "맛집", "추천"),
    "tts": ("tts", "밈", "웃긴", "썰", "추천"),
}
FOREIGN_HASHTAGS = ("fyp", "foryou", "viral", "trending", "dance", "food", "funny", "challenge", "xyzbca")
EMOJI = ("🔥", "😂", "❤️", "✨", "👏", "😍", "🥹", "💃", "🍜", "🤣", "👀", "💯")

_KO_GIVEN = (("민지", "minji"), ("서연", "seoyeon"), ("지우", "jiwoo"), ("하준", "hajun"), ("도윤", "doyun"),
             ("예린", "yerin"), ("수아", "sua"), ("은우", "eunwoo"), ("지호", "jiho"), ("유나", "yuna"),
             ("시우", "siwoo"), ("하린", "harin"), ("채원", "chaewon"), ("준서", "junseo"), ("다은", "daeun"))
_KO_PREFIX = (("춤추는", "dance"), ("먹방하는", "eats"), ("요리하는", "cook"), ("웃긴", "lol"), ("일상", "daily"),
              ("귀여운", "cutie"), ("노래하는", "sing"), ("여행하는", "trip"))
_FOREIGN_AUTHORS = (("Emma Johnson", "emma.j"), ("Liam Carter", "liamcarter"), ("さくら", "sakura_jp"),
                    ("ゆうき", "yuki.daily"), ("Minh Anh", "minhanh.vn"), ("Thu Trang", "thutrang"),
                    ("小美", "xiaomei"), ("阿杰", "ajie.cn"), ("Lucía Gómez", "lucia.gomez"),
                    ("Mateo Ruiz", "mateoruiz"), ("Somchai", "somchai.th"), ("Putri Ayu", "putri.ayu"),
                    ("Chloe Smith", "chloesmith"), ("Hiro Tanaka", "hiro.tanaka"))


def korean_author(rng: random.Random) -> tuple[str, str]:
    """(nickname, uniqueId) of a Korean creator: the nickname is Hangul, the handle Latin like on TikTok."""
    (pk, pr), (gk, gr) = rng.choice(_KO_PREFIX), rng.choice(_KO_GIVEN)
    return f"{pk} {gk}", f"{gr}.{pr}{rng.randint(1, 999)}"


def foreign_author(rng: random.Random) -> tuple[str, str]:
    nickname, handle = rng.choice(_FOREIGN_AUTHORS)
    return nickname, f"{handle}{rng.randint(1, 999)}"


def hashtags(rng: random.Random, pool: tuple[str, ...], k: int) -> list[str]:
    return rng.sample(pool, min(k, len(pool)))


# caption kinds: (name, korean?, weight).  Language of the video is decided by the caption's text, or by the
# creator's nickname when the caption has no words (empty, emoji-only, hashtags in the creator's language).
CAPTION_KINDS = (
    ("ko_sentence", True, 40), ("ko_mixed", True, 9), ("ko_empty", True, 5), ("ko_emoji", True, 4),
    ("ko_hashtags", True, 4), ("foreign_sentence", False, 22), ("foreign_korean_tag", False, 7),
    ("foreign_empty", False, 4), ("foreign_emoji", False, 3), ("foreign_hashtags", False, 2),
)


def make_caption(kind: str, category: str, rng: random.Random) -> tuple[str, list[str], str | None]:
    """(desc, hashtag names in order, textLanguage TikTok would report) for a caption kind."""
    ko_tags = KOREAN_HASHTAGS[category]
    if kind == "ko_sentence":
        tags = hashtags(rng, ko_tags, rng.randint(0, 3))
        text = rng.choice(KOREAN_SENTENCES[category]) + (" " + rng.choice(EMOJI) if rng.random() < 0.4 else "")
        return _join(text, tags), tags, "ko"
    if kind == "ko_mixed":
        tags = hashtags(rng, ko_tags, rng.randint(0, 2)) + hashtags(rng, FOREIGN_HASHTAGS[:4], 1)
        return _join(rng.choice(KOREAN_MIXED), tags), tags, "ko"
    if kind in ("ko_empty", "foreign_empty"):
        return "", [], "un"
    if kind in ("ko_emoji", "foreign_emoji"):
        return " ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))), [], "un"
    if kind == "ko_hashtags":
        tags = hashtags(rng, ko_tags, rng.randint(2, 4))
        return _join("", tags), tags, "ko"
    if kind == "foreign_hashtags":
        tags = hashtags(rng, FOREIGN_HASHTAGS, rng.randint(2, 4))
        return _join("", tags), tags, "en"
    lang = rng.choice(sorted(FOREIGN_SENTENCES))
    text = rng.choice(FOREIGN_SENTENCES[lang])
    if kind == "foreign_sentence":
        tags = hashtags(rng, FOREIGN_HASHTAGS, rng.randint(0, 3))
        return _join(text, tags), tags, lang
    if kind == "foreign_korean_tag":
        # a foreign caption that borrows one Korean hashtag to reach Korean viewers: still foreign content
        tags = ["추천"] + hashtags(rng, FOREIGN_HASHTAGS, rng.randint(0, 2))
        return _join(text, tags), tags, lang
    raise ValueError(f"unknown caption kind {kind!r}")


def _join(text: str, tags: list[str]) -> str:
    return " ".join(([text] if text else []) + [f"#{t}" for t in tags])


def text_extra(desc: str, tags: list[str]) -> list[dict]:
    """TikTok's ``textExtra``: where each hashtag sits in ``desc`` (character offsets)."""
    out, pos = [], 0
    for tag in tags:
        start = desc.find(f"#{tag}", pos)
        if start < 0:
            continue
        end = start + len(tag) + 1
        out.append({"hashtagName": tag, "start": start, "end": end, "type": 1})
        pos = end
    return out
