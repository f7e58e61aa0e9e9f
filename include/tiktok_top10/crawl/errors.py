"""Why a crawl failed, as distinct exception types so the DAG's retries and the CLI's exit codes can tell
a block (wait and retry, maybe with a fresh cookie) from an empty feed (the source changed) from a bug."""

from __future__ import annotations

from pathlib import Path


class CrawlError(RuntimeError):
    """Base of every crawl failure. ``artifacts`` lists the screenshot/HTML saved for a human to look at."""

    reason = "crawl_error"

    def __init__(self, message: str, *, url: str = "", artifacts: list[Path] | None = None):
        super().__init__(message)
        self.url = url
        self.artifacts = list(artifacts or [])


class CrawlBlocked(CrawlError):
    """TikTok refused us (captcha, bot wall, IP block). Retryable later; CLI exit code 3."""

    reason = "blocked"


class CaptchaBlocked(CrawlBlocked):
    """A (slider) captcha covered the page: more common headless and after many scrolls."""

    reason = "captcha"


class BotWallBlocked(CrawlBlocked):
    """The page itself was refused (HTTP 403/429 on navigation, an access-denied interstitial)."""

    reason = "bot_wall"


class IpBlocked(CrawlBlocked):
    """An API envelope said ``statusCode`` 10204: "IP address is blocked"."""

    reason = "ip_blocked"


class CrawlEmpty(CrawlError):
    """Every source was crawled to the end and nothing usable came back. CLI exit code 4."""

    reason = "empty"


class ProfileBusy(CrawlError):
    """Another browser holds this persistent profile directory (Chromium allows one user at a time)."""

    reason = "profile_busy"


class SourceUnreachable(CrawlError):
    """No page load succeeded (navigation timeout, connection refused, DNS): the site, the proxy or the
    network is down, not the feed.  Retryable; CLI exit code 1."""

    reason = "unreachable"


class BrowserCrashed(CrawlError):
    """The browser process died mid-crawl (OOM killer, a crash, ``kill -9``). What it had seen is discarded:
    a partial feed must not pass for the whole category.  Retryable; CLI exit code 1."""

    reason = "browser_crashed"
