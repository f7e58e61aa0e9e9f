"""The crawl stage: TikTok-shaped pages in a real browser -> validated items + covers for one category.

``run_crawl`` is the DAG's entry point; ``crawl_category`` does the work for explicit URLs and an output dir;
``load_sources`` validates the per-category source configuration at DAG parse time.  Playwright is imported
only when a browser is actually started.
"""

from .cli import cli_main
from .errors import (
    ERROR_TABLE,
    BotWallBlocked,
    BrowserCrashed,
    CaptchaBlocked,
    CrawlBlocked,
    CrawlEmpty,
    CrawlError,
    LoginRequired,
    NeedsOperator,
    ProfileBusy,
    RegionMismatch,
    SourceUnreachable,
)
from .sources import SourceSpec, load_sources
from .stage import crawl_category, run_crawl

__all__ = [
    "run_crawl",
    "crawl_category",
    "load_sources",
    "cli_main",
    "SourceSpec",
    "ERROR_TABLE",
    "CrawlError",
    "CrawlBlocked",
    "CaptchaBlocked",
    "BotWallBlocked",
    "NeedsOperator",
    "LoginRequired",
    "RegionMismatch",
    "CrawlEmpty",
    "ProfileBusy",
    "SourceUnreachable",
    "BrowserCrashed",
]
