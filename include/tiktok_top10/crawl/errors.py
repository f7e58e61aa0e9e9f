"""Why a crawl failed, as distinct exception types: one table decides the CLI's exit code and the DAG's retry.

| exit | class | meaning | retry |
|---|---|---|---|
| 0 | (none) | items kept | |
| 1 | ``SourceUnreachable``, ``BrowserCrashed``, ``ProfileBusy`` | the site, network or browser failed | with backoff |
| 2 | (argparse / ``ValueError``) | bad arguments or configuration | never |
| 3 | ``CaptchaBlocked``, ``BotWallBlocked`` | TikTok's anti-bot stopped us | after a long delay |
| 3 | ``LoginRequired``, ``RegionMismatch`` | a person must act (log in, change the proxy/IP) | never |
| 4 | ``CrawlEmpty`` | every source was crawled and nothing usable came back | never |

``ERROR_TABLE`` is that table as data: ``top10 crawl --help`` prints it and the DAG's retry policy is built from it,
so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# What the DAG does with a failure of this kind.
RETRY_BACKOFF = "backoff"  # transient: retry soon, backing off
RETRY_LONG_DELAY = "long_delay"  # anti-bot: retrying at once only deepens the block
RETRY_NEVER = "never"  # a person must act, or retrying cannot change the answer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED, EXIT_EMPTY = 0, 1, 2, 3, 4


class CrawlError(RuntimeError):
    """Base of every crawl failure. ``artifacts`` lists the screenshot/HTML saved for a human to look at."""

    reason = "crawl_error"
    exit_code = EXIT_FAILED
    retry = RETRY_BACKOFF

    def __init__(self, message: str, *, url: str = "", artifacts: list[Path] | None = None):
        super().__init__(message)
        self.url = url
        self.artifacts = list(artifacts or [])


class CrawlBlocked(CrawlError):
    """TikTok's anti-bot refused us (captcha, bot wall). Retry after a long delay; CLI exit code 3."""

    reason = "blocked"
    exit_code = EXIT_BLOCKED
    retry = RETRY_LONG_DELAY


class CaptchaBlocked(CrawlBlocked):
    """A captcha covered the page, or an envelope asked for one (``type: verify``, 10000, 10113, 10114)."""

    reason = "captcha"


class BotWallBlocked(CrawlBlocked):
    """The page itself was refused (HTTP 403/429 on navigation, an access-denied interstitial)."""

    reason = "bot_wall"


class NeedsOperator(CrawlError):
    """TikTok answered, but only a person can change the answer: no retry; CLI exit code 3."""

    reason = "needs_operator"
    exit_code = EXIT_BLOCKED
    retry = RETRY_NEVER


class LoginRequired(NeedsOperator):
    """A redirect to ``/login`` or status 10102: export a logged-in session into the ``tiktok_default``
    connection (README, "First live run")."""

    reason = "login_required"


class RegionMismatch(NeedsOperator):
    """TikTok assigned another region than expected (it follows the IP): a US IP yields a US chart."""

    reason = "region_mismatch"


class CrawlEmpty(CrawlError):
    """Every source was crawled to the end and nothing usable came back. No retry; CLI exit code 4."""

    reason = "empty"
    exit_code = EXIT_EMPTY
    retry = RETRY_NEVER


class ProfileBusy(CrawlError):
    """Another browser holds this persistent profile directory (Chromium allows one user at a time)."""

    reason = "profile_busy"


class SourceUnreachable(CrawlError):
    """No page load succeeded (navigation timeout, connection refused, DNS): the site, the proxy or the
    network is down, not the feed.  Retry with backoff; CLI exit code 1."""

    reason = "unreachable"


class BrowserCrashed(CrawlError):
    """The browser process died mid-crawl (OOM killer, a crash, ``kill -9``). What it had seen is discarded:
    a partial feed must not pass for the whole category.  Retry with backoff; CLI exit code 1."""

    reason = "browser_crashed"


@dataclass(frozen=True)
class ErrorRow:
    error: type[CrawlError]
    exit_code: int
    retry: str
    meaning: str


ERROR_TABLE: tuple[ErrorRow, ...] = tuple(
    ErrorRow(cls, cls.exit_code, cls.retry, (cls.__doc__ or "").strip().splitlines()[0])
    for cls in (SourceUnreachable, BrowserCrashed, ProfileBusy, CaptchaBlocked, BotWallBlocked,
                LoginRequired, RegionMismatch, CrawlEmpty)
)


def error_table_text() -> str:
    """The table for ``top10 crawl --help``."""
    lines = ["exit codes and what the DAG does with each failure:",
             f"  {EXIT_OK}  items kept",
             f"  {EXIT_USAGE}  bad arguments or configuration (no retry)"]
    for row in ERROR_TABLE:
        retry = {RETRY_BACKOFF: "retry with backoff", RETRY_LONG_DELAY: "retry after a long delay",
                 RETRY_NEVER: "no retry"}[row.retry]
        lines.append(f"  {row.exit_code}  {row.error.__name__} ({row.error.reason}): {retry}")
    return "\n".join(lines)
