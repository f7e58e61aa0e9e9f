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

from .config import KST, Settings
from .storage import parse_day


def run_day(settings: Settings, day: dt.date) -> dict:
    from .crawl import run_crawl
    from .dedup import run_dedup
    from .language import run_language
    from .publish import publish_day
    from .retention import archive_and_cleanup

    failed = {}
    for category in settings.categories:
        try:
            run_crawl(settings, day, category)
        except Exception as exc:  # one category failing must not lose the others
            logging.exception("crawl %s failed", category)
            failed[category] = f"{type(exc).__name__}: {exc}"
    run_dedup(settings, day, list(settings.categories))
    run_language(settings, day)
    manifest = publish_day(settings, day, list(settings.categories), run_info={"runner": "top10 run-day"})
    archive_and_cleanup(settings, day, list(settings.categories))
    return {"manifest": str(manifest), "crawl_failed": failed}


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
