"""Language-stage benchmark: lingua throughput, and Google API cost vs the original's one call per title.

1. Throughput on *distinct* texts: ``KoreanFilter`` (normalise, settle Hangul/no-letter texts by script, send
   the rest to lingua) against the naive baseline in the same run — one lingua call per raw caption.  Both sides
   get the same list, with no text twice: the filter asks the detector once per distinct text within a batch and
   the naive loop does not, so a workload with repeats would credit the filter with work it merely skipped.
1b. Separately labelled, the cache's effect on repeats: the same distinct texts decided a second time by a
   ``KoreanFilter`` with a persistent cache (warm: the detector answered them before, as on a rerun or the
   next day's repeated captions) against the naive loop, which asks lingua again for every text.
2. API cost over the three seed-crawl days (../shared/reference, read at run time) through the real
   google-cloud-translate client against the loopback stub, with the persistent cache carried from day to day,
   against one request per published title per day (what the original paid).
3. API cost for a whole demo day (every crawled item, the stage's real workload), first run and rerun.

    .venv/bin/python bench/bench_lang.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from google.auth.credentials import AnonymousCredentials

from tiktok_top10.config import PROJECT_ROOT
from tiktok_top10.language import Candidate, GoogleDetector, KoreanFilter, LinguaDetector
from tiktok_top10.language.detectors import _lingua_detector
from tiktok_top10.language.google_stub import GoogleTranslateStub, lingua_answer

REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


def _rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def day_entries(day_dir: Path) -> list[dict]:
    out = []
    for path in sorted(day_dir.glob("*/top10/*.json")):
        out.extend(_rows(path))
    return out


def distinct(texts: list[Candidate]) -> list[Candidate]:
    """First occurrence of each (title, author): a throughput comparison where neither side can skip a repeat."""
    return list(dict.fromkeys(texts))


def feed_workload() -> list[Candidate]:
    """Every published entry of the three seed days (what a real Korean feed day looks like), each text once."""
    texts: list[Candidate] = []
    for day in sorted((REFERENCE / "seed-crawls").glob("2026-*")):
        texts += [Candidate(r.get("title") or "", r.get("author") or "") for r in day_entries(day)]
    return distinct(texts)


def sentence_workload() -> list[Candidate]:
    """200 lingua test sentences per language with hashtags and emoji: mostly foreign, the detector's worst case."""
    texts: list[Candidate] = []
    for lang_file in sorted((REFERENCE / "lingua-testdata" / "sentences").glob("*.txt")):
        lines = [line.strip() for line in lang_file.read_text(encoding="utf-8").splitlines() if line.strip()][:200]
        texts += [Candidate(line + " #추천 #fyp 😀", "") for line in lines]
    return distinct(texts)


def throughput(label: str, texts: list[Candidate], repeat: int) -> None:
    detector = LinguaDetector()
    raw = _lingua_detector(detector.languages)  # warm the models once so neither side pays the load
    raw.detect_language_of("warm up")

    def naive():
        for c in texts:
            raw.compute_language_confidence_values(c.title or c.author)

    def ours():
        KoreanFilter(detector).decide_many(texts)

    best = {}
    sides = (("naive: one lingua call per raw caption (title, else author), every text", naive),
             ("KoreanFilter: script rules, then lingua once per distinct undecided text", ours))
    for name, fn in sides:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        best[name] = min(times)
    naive_t, ours_t = best.values()
    repeats = len(texts) - len(set(texts))
    print(f"## lingua throughput: {label} ({len(texts)} texts, {repeats} of them repeats, best of {repeat})\n")
    print("| method | seconds | texts/s |")
    print("|---|---:|---:|")
    for name, t in best.items():
        print(f"| {name} | {t:.3f} | {len(texts) / t:,.0f} |")
    what = "repeats included: the filter's ratio includes the texts it skipped" if repeats else "distinct texts"
    print(f"\nspeed-up vs naive ({what}): {naive_t / ours_t:.1f}x\n")


def cache_on_repeats(label: str, texts: list[Candidate], repeat: int) -> None:
    detector = LinguaDetector()
    raw = _lingua_detector(detector.languages)
    raw.detect_language_of("warm up")
    with tempfile.TemporaryDirectory() as cache_dir:
        KoreanFilter(detector, cache_dir=Path(cache_dir)).decide_many(texts)  # fills the cache
        naive_times, warm_times = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            for c in texts:
                raw.compute_language_confidence_values(c.title or c.author)
            naive_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            warm = KoreanFilter(detector, cache_dir=Path(cache_dir))
            warm.decide_many(texts)
            warm_times.append(time.perf_counter() - start)
    naive_t, warm_t = min(naive_times), min(warm_times)
    print(f"## cache on repeats: {label} decided again ({len(texts)} texts, best of {repeat})\n")
    print("| method | seconds | texts/s |")
    print("|---|---:|---:|")
    print(f"| naive: one lingua call per raw caption, every text again | {naive_t:.3f} | {len(texts) / naive_t:,.0f} |")
    print(f"| KoreanFilter, warm persistent cache ({warm.stats.cache_hits} cache hits, "
          f"{warm.stats.detector_texts} texts to lingua) | {warm_t:.3f} | {len(texts) / warm_t:,.0f} |")
    print(f"\nratio vs naive (repeats answered from the cache, not a detection speed): {naive_t / warm_t:.1f}x\n")


def api_cost() -> None:
    days = sorted((REFERENCE / "seed-crawls").glob("2026-*"))
    print("## Google API cost over the seed-crawl days (real client → loopback stub)\n")
    print("| day | titles | naive requests | naive characters | requests | characters | cache hits | decided locally |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0, 0]
    with tempfile.TemporaryDirectory() as cache_dir, GoogleTranslateStub(answer=lingua_answer) as stub:
        for day in days:
            entries = day_entries(day)
            titles = [r.get("title") or "" for r in entries]
            detector = GoogleDetector(AnonymousCredentials(), endpoint=stub.url)
            korean_filter = KoreanFilter(detector, cache_dir=Path(cache_dir))
            korean_filter.decide_many([Candidate(r.get("title") or "", r.get("author") or "") for r in entries])
            naive_chars = sum(len(t) for t in titles)
            stats = korean_filter.stats
            print(
                f"| {day.name} | {len(titles)} | {len(titles)} | {naive_chars:,} | {detector.usage.requests} | "
                f"{detector.usage.characters:,} | {stats.cache_hits} | {stats.decided_by_script} |"
            )
            day_counts = (len(titles), naive_chars, detector.usage.requests, detector.usage.characters)
            totals = [a + b for a, b in zip(totals, day_counts, strict=True)]
    n, naive_chars, requests, chars = totals
    print(f"| total | {n} | {n} | {naive_chars:,} | {requests} | {chars:,} | | |")
    print(f"\nrequests: {n / max(requests, 1):.0f}x fewer; characters: {naive_chars / max(chars, 1):.0f}x fewer\n")


def demo_day_api_cost(day: str = "2026-11-20") -> None:
    """A whole demo day (every item above min_views, all five categories) through the real client → stub, then the
    same day again (a rerun or backfill): what the stage pays against one request per title."""
    import datetime as dt

    from tiktok_top10.demo import generate_day

    demo = generate_day(dt.date.fromisoformat(day))
    items = [it.item for cat in demo.items.values() for it in cat
             if not it.item.get("isAd") and int(it.item["statsV2"]["playCount"]) >= 100_000]
    candidates = [Candidate(i.get("desc") or "", i["author"].get("nickname") or "") for i in items]
    naive_chars = sum(len(c.title or c.author) for c in candidates)
    print(f"## Google API cost for demo day {day} ({len(items)} items ≥ 100k views, all categories)\n")
    print("| run | requests | characters | cache hits | decided locally |")
    print("|---|---:|---:|---:|---:|")
    print(f"| naive: one request per title | {len(items)} | {naive_chars:,} | | |")
    with tempfile.TemporaryDirectory() as cache_dir, GoogleTranslateStub(answer=lingua_answer) as stub:
        for label in ("first run", "rerun (cache)"):
            detector = GoogleDetector(AnonymousCredentials(), endpoint=stub.url)
            korean_filter = KoreanFilter(detector, cache_dir=Path(cache_dir))
            korean_filter.decide_many(candidates)
            stats = korean_filter.stats
            print(f"| {label} | {detector.usage.requests} | {detector.usage.characters:,} | {stats.cache_hits} | "
                  f"{stats.decided_by_script} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not (REFERENCE / "seed-crawls").is_dir():
        print(f"bench-lang: reference data not found at {REFERENCE}", file=sys.stderr)
        return 2
    throughput("seed-crawl entries, distinct", feed_workload(), args.repeat)
    throughput("lingua sentences + hashtags, distinct", sentence_workload(), args.repeat)
    cache_on_repeats("seed-crawl entries, distinct", feed_workload(), args.repeat)
    api_cost()
    demo_day_api_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
