"""The labelled evaluation on ../shared/reference: the default filter fixes what the original got wrong."""

from __future__ import annotations

import importlib.util

import pytest

from tiktok_top10.config import PROJECT_ROOT
from tiktok_top10.language import KoreanFilter, LinguaDetector

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def eval_lang():
    spec = importlib.util.spec_from_file_location("eval_lang", PROJECT_ROOT / "bench" / "eval_lang.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_filter_vs_original_rules(reference, eval_lang):
    items = eval_lang.seed_items(reference)
    for kind in ("sentences", "word-pairs"):
        items += eval_lang.lingua_items(reference, kind, 30)
        items += eval_lang.lingua_items(reference, kind, 30, tag=" #추천")
    detector = LinguaDetector()
    ours = eval_lang.evaluate("default", KoreanFilter(detector), items)
    original = eval_lang.evaluate("original", KoreanFilter(detector, normalize_text=False), items, placeholder=True)

    assert ours["seed"]["n"] == 99
    assert ours["seed"]["accuracy"] >= 0.95
    for slice_ in ("sentences +#추천", "word-pairs +#추천"):
        assert ours[slice_]["false_korean"] == 0.0, slice_
    assert ours["sentences"]["false_foreign"] == 0.0
    # The original's failure mode reproduces: a Korean hashtag makes short foreign texts Korean.
    assert original["word-pairs +#추천"]["false_korean"] > 0.5
    assert ours["all"]["accuracy"] > original["all"]["accuracy"]


def test_script_rule_groups(reference, eval_lang):
    """Short ja/zh/th texts + Korean hashtags are all foreign; short Latin ones are decided as before the rule."""
    foreign, missing = eval_lang.tagged_short_items(reference, eval_lang.FOREIGN_SCRIPT_LANGS, 30)
    latin, _ = eval_lang.tagged_short_items(reference, eval_lang.LATIN_SCRIPT_LANGS, 30)
    assert set(missing) <= {"ru"}  # lingua-testdata has no Russian; every other script is evaluated
    detector = LinguaDetector()
    rule_off = KoreanFilter(detector, foreign_script_rule=False)
    ours = eval_lang.evaluate_script_groups(KoreanFilter(detector), rule_off, foreign, latin)
    before = eval_lang.evaluate_script_groups(rule_off, rule_off, foreign, latin)

    for lang in ("ja", "zh", "th"):
        assert ours[f"foreign-script {lang}"]["n"] >= 50, lang
        assert ours[f"foreign-script {lang}"]["foreign"] == 1.0, lang
    assert ours["latin-script all"]["n"] == 30 * 2 * len(eval_lang.LATIN_SCRIPT_LANGS)
    assert ours["latin-script all"]["unchanged"] == 1.0
    # The failure the rule fixes reproduces without it, and the Latin group really exercises the hashtag rule.
    assert before["foreign-script all"]["korean"] > 0.5
    assert ours["latin-script all"]["korean"] > 0.3


def test_seed_chinese_caption_with_korean_hashtags_is_no_longer_korean(reference, eval_lang):
    items = eval_lang.seed_items(reference)
    ours = eval_lang.evaluate("default", KoreanFilter(LinguaDetector()), items)
    before = eval_lang.evaluate("rule off", KoreanFilter(LinguaDetector(), foreign_script_rule=False), items)
    assert ours["seed"]["false_korean"] == 0.0 < before["seed"]["false_korean"]
    assert ours["seed"]["false_foreign"] <= before["seed"]["false_foreign"]
