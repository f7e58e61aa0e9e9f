"""Run every stage for one day in this process, without Airflow: ``top10 run-day --day YYYY-MM-DD``.

For debugging a stage on real data and for benchmarks. Production runs go through the DAG, which calls the
same stage functions one task at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from .config import KST, Settings
from .storage import DayLayout, parse_day


def run_day(settings: Settings, day: dt.date) -> dict:
    """The DAG's chain in one process: each stage gets the previous stage's result, as the tasks do."""
    from .contracts import CrawlResult
    from .crawl import run_crawl
    from .dedup.stage import dedup_day
    from .language.stage import decide_day
    from .publish import publish
    from .retention import archive

    layout = DayLayout(settings.data_root, day)
    crawled: dict[str, Path] = {}
    failed = {}
    for category in settings.categories:
        try:
            items = run_crawl(settings, day, category)
            crawled[category] = Path(CrawlResult.from_items_path(category, items).items_path)
        except Exception as exc:  # one category failing must not lose the others
            logging.exception("crawl %s failed", category)
            failed[category] = f"{type(exc).__name__}: {exc}"
    deduped = dedup_day(settings, day, crawled, layout.work_dir, list(settings.categories))
    decided = decide_day(settings, deduped, layout.work_dir)
    published = publish(settings, day, decided, list(settings.categories), run_info={"runner": "top10 run-day"})
    archived = archive(settings, day, published)
    return {"manifest": published.manifest_path, "status": published.status, "crawl_failed": failed,
            "archive": archived.archive_dir}


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="top10 run-day", description=__doc__)
    parser.add_argument("--day", default=dt.datetime.now(KST).date().isoformat(), help="YYYY-MM-DD (Asia/Seoul)")
    parser.add_argument("--source", choices=["demo", "tiktok"])
    parser.add_argument("--categories", help="comma-separated subset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env().with_overrides(
        source=args.source, categories=args.categories.split(",") if args.categories else None
    )
    print(json.dumps(run_day(settings, parse_day(args.day)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
