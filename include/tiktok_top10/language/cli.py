"""``top10 lang FILE.jsonl [--detector auto|lingua|google]``: decide Korean content line by line.

Input lines are ``{"id": ..., "title": ..., "author": ...}`` (``text_language`` optional); output is one JSON
line per input on stdout.  A malformed line is reported on stderr with its line number (and id when it has
one); the other lines still run and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import DETECTORS, Settings
from .decide import Candidate
from .stage import filter_for_settings


def _parse(line: str) -> tuple[Candidate, object]:
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("line is not a JSON object")
    if "id" not in row:
        raise ValueError("missing 'id'")
    for key in ("title", "author"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ValueError(f"{key!r} must be a string")
    return Candidate(row.get("title") or "", row.get("author") or "", row.get("text_language")), row["id"]


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="top10 lang", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="JSON lines of {id, title, author}; '-' for stdin")
    parser.add_argument("--detector", choices=DETECTORS, default=None, help="default: settings (auto)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the detection cache")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.detector:
        settings = settings.with_overrides(detector=args.detector)
    try:
        korean_filter, _ = filter_for_settings(settings)
    except ValueError as exc:
        print(f"top10 lang: {exc}", file=sys.stderr)
        return 2
    if args.no_cache:
        korean_filter.cache_dir = None

    text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    candidates, ids, bad = [], [], 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            candidate, item_id = _parse(line)
        except (ValueError, json.JSONDecodeError) as exc:
            bad += 1
            print(
                json.dumps({"line": n, "id": _loose_id(line), "error": str(exc)}, ensure_ascii=False),
                file=sys.stderr,
            )
            continue
        candidates.append(candidate)
        ids.append(item_id)
    for item_id, decision in zip(ids, korean_filter.decide_many(candidates), strict=True):
        row = {"id": item_id, "korean": decision.korean, "language": decision.language,
               "basis": decision.basis, "detector": decision.detector}
        print(json.dumps(row, ensure_ascii=False))
    return 1 if bad else 0


def _loose_id(line: str):
    try:
        row = json.loads(line)
        return row.get("id") if isinstance(row, dict) else None
    except json.JSONDecodeError:
        return None
