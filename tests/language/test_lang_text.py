from tiktok_top10.language.text import normalize, profile


def test_hashtags_mentions_urls_and_emoji_are_not_words():
    n = normalize("Hola amigos 😀✨ @maria_01 https://t.co/x #추천#fyp ＃밈")
    assert n.words == "Hola amigos"
    assert n.hashtags == ("추천", "fyp", "밈")
    assert n.korean_hashtags == 2


def test_jamo_are_kept_as_hangul_letters():
    n = normalize("💪ㅋㅋ ㅠㅠ")
    assert n.words == "ㅋㅋ ㅠㅠ"
    assert n.profile.all_hangul


def test_handles_and_ids_are_not_words():
    assert normalize("Insta:xxoneee__ user3291767576763").words == ""
    assert not normalize("🥐").has_words
    assert not normalize("").has_words and not normalize(None).has_words


def test_thai_and_vietnamese_marks_survive_but_stray_marks_do_not():
    assert normalize("ภาษาไทย").words == "ภาษาไทย"
    assert normalize("Tôi đã nghĩ").words == "Tôi đã nghĩ"
    assert normalize("≧ ‧̫ ≦ ♡").words == ""


def test_mixed_script_words_count_by_script():
    p = profile("회오리 오이무침 Let's cook spicy")
    assert (p.words, p.hangul_words) == (5, 2)
    assert profile("설기양SULGI").all_hangul  # 3 syllables carry as much as 5 Latin letters


def test_normaliser_off_keeps_the_raw_caption():
    n = normalize("Hola #추천 😀", strip_tags=False)
    assert n.words == "Hola #추천 😀" and n.profile.any_hangul


def test_own_script_is_the_unicode_script_of_the_words():
    for caption in ["今日のランチ #먹방", "太好笑了", "อร่อย", "Очень вкусно", "TWICE 新曲 最高"]:
        assert normalize(caption).profile.own_script, caption
    # Latin is nobody's own script; styled letters (Script=Common) and a kaomoji's two hiragana do not outvote it.
    for caption in ["so good #먹방", "Tôi đã nghĩ", "𝓵𝓸𝓿𝓮 it", "so good (づ｡◕‿◕｡)づ", "TWICE 新曲"]:
        assert not normalize(caption).profile.own_script, caption
    # Any Hangul and the caption is left to the Hangul rules.
    assert not normalize("今日のランチ 맛있다").profile.own_script
    assert not normalize("#먹방 #추천").profile.own_script  # no words, nothing to own
