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
