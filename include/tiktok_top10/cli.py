"""``top10``: the operators' command line. Each subcommand lives with its stage and is imported lazily,
so ``top10 lang`` never pays for torch and ``top10 dedup`` never starts a browser."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "crawl": ("tiktok_top10.crawl", "crawl one category's sources into DIR/items.jsonl + DIR/thumbnails/"),
    "probe": ("tiktok_top10.crawl.probe",
              "load each configured source once and say what the site did (first live run)"),
    "dedup": ("tiktok_top10.dedup", "group images that show the same video (visual fingerprints)"),
    "lang": ("tiktok_top10.language", "decide Korean content for JSON lines of {id, title, author}"),
    "demo-site": ("tiktok_top10.demo", "serve the TikTok stand-in on loopback"),
    "run-day": ("tiktok_top10.pipeline", "run every stage for one day without Airflow (debugging)"),
    "report": ("tiktok_top10.report", "print a day's published files and per-stage counts (rc 1 unless complete)"),
    "explain": ("tiktok_top10.explain", "why VIDEO is or is not in DAY's Top-10 (rc 1 not seen, 3 archive expired)"),
}


def usage() -> str:
    lines = ["usage: top10 COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"top10: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.cli_main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
