"""Language-stage benchmark: lingua throughput, and Google API cost vs the original's one call per title.

1. Throughput: ``KoreanFilter`` (normalise, settle Hangul/no-letter texts by script, batch the rest through
   lingua's parallel API) against the naive baseline in the same run — one lingua call per raw caption.
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
    return json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]


def day_entries(day_dir: Path) -> list[dict]:
    out = []
    for path in sorted(day_dir.glob("*/top10/*.json")):
        out.extend(_rows(path))
    return out


def feed_workload() -> list[Candidate]:
    """Every published entry of the three seed days: what a real Korean feed day looks like."""
    texts: list[Candidate] = []
    for day in sorted((REFERENCE / "seed-crawls").glob("2026-*")):
        texts += [Candidate(r.get("title") or "", r.get("author") or "") for r in day_entries(day)]
    return texts


def sentence_workload() -> list[Candidate]:
    """200 lingua test sentences per language with hashtags and emoji: mostly foreign, the detector's worst case."""
    texts: list[Candidate] = []
    for lang_file in sorted((REFERENCE / "lingua-testdata" / "sentences").glob("*.txt")):
        lines = [l.strip() for l in lang_file.read_text(encoding="utf-8").splitlines() if l.strip()][:200]
        texts += [Candidate(l + " #추천 #fyp 😀", "") for l in lines]
    return texts


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
    for name, fn in (("naive: one lingua call per raw caption", naive), ("KoreanFilter (script rules + batched lingua)", ours)):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        best[name] = min(times)
    naive_t, ours_t = best.values()
    print(f"## lingua throughput: {label} ({len(texts)} texts, best of {repeat})\n")
    print("| method | seconds | texts/s |")
    print("|---|---:|---:|")
    for name, t in best.items():
        print(f"| {name} | {t:.3f} | {len(texts) / t:,.0f} |")
    print(f"\nspeed-up vs naive: {naive_t / ours_t:.1f}x\n")


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
            totals = [a + b for a, b in zip(totals, (len(titles), naive_chars, detector.usage.requests, detector.usage.characters))]
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
    throughput("seed-crawl entries", feed_workload() * 10, args.repeat)
    throughput("lingua sentences + hashtags", sentence_workload(), args.repeat)
    api_cost()
    demo_day_api_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
