"""What the crawler's browser says about itself, kept consistent; the virtual display for headful mode; and
blocking media without turning the HTTP cache off.

Consistency over disguise.  Chromium on Linux reports ``navigator.platform`` "Linux x86_64" whatever User-Agent
it is given, while Playwright derives the client hints (``navigator.userAgentData``, ``Sec-CH-UA-Platform``)
from the User-Agent string: the earlier Windows User-Agent made a page see Windows in the UA and its hints and
Linux in ``navigator.platform`` (measured with tests/crawl/test_fingerprint.py's loopback report page).  The
User-Agent here is the engine's own, Linux, with headless Chromium's "HeadlessChrome" token replaced by
"Chrome", so the UA, ``navigator.platform``, ``userAgentData.platform``/brands and the ``Sec-CH-UA*`` headers
all agree, in the page and in its workers, with no script patched into the page.

playwright-stealth 2.0.3 (the maintained stealth library on PyPI) was measured against the same report page
with a Windows User-Agent: it sets ``navigator.platform`` to "Win32" in the page, but a Worker still reports
"Linux x86_64" and the patched getter's source is visible to ``toString()`` -- two tells instead of one, so it
is not used.  Headful mode (``Settings.headful``) runs a real headed Chromium on an Xvfb display: no headless
tells at all (window metrics, plugins), as pytok advises for TikTok.

Media blocking: ``context.route()`` makes Playwright intercept every request, which turns Chromium's HTTP cache
off (microsoft/playwright #7220), so each load would refetch TikTok's ~220 static chunks.  Blocking by URL
pattern through the page's DevTools session (``Network.setBlockedURLs``) keeps the cache on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

# URL patterns ("*" wildcards) of what a crawl never needs: video/audio streams (TikTok's video URLs have no
# suffix but carry mime_type=video_mp4 or live under /video/tos/), fonts, and optionally images (covers are
# downloaded separately, checked and capped).
MEDIA_URL_PATTERNS = (
    "*.mp4", "*.mp4?*", "*.webm", "*.webm?*", "*.m3u8", "*.m3u8?*", "*.m4s", "*.m4s?*", "*.mp3", "*.mp3?*",
    "*.m4a", "*.m4a?*", "*.aac", "*.aac?*", "*mime_type=video*", "*mime_type=audio*", "*/video/tos/*",
    "*.woff", "*.woff?*", "*.woff2", "*.woff2?*", "*.ttf", "*.ttf?*", "*.otf", "*.otf?*",
)
IMAGE_URL_PATTERNS = (
    "*.jpg", "*.jpg?*", "*.jpeg", "*.jpeg?*", "*.png", "*.png?*", "*.webp", "*.webp?*", "*.gif", "*.gif?*",
    "*.avif", "*.avif?*", "*.heic", "*.heic?*", "*.image", "*.image?*", "*~tplv-*",
)


def engine_major_version(chromium_path: str | None) -> str:
    if chromium_path and os.path.exists(chromium_path):
        try:
            out = subprocess.run([chromium_path, "--version"], capture_output=True, text=True, timeout=10).stdout
            found = re.search(r"(\d+)\.\d+\.\d+\.\d+", out)
            if found:
                return found.group(1)
        except (OSError, subprocess.SubprocessError):
            pass
    return "131"


def consistent_user_agent(chromium_path: str | None) -> str:
    """The engine's own desktop Linux User-Agent, reduced as Chrome reduces it, without "Headless"."""
    return ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{engine_major_version(chromium_path)}.0.0.0 Safari/537.36")


class VirtualDisplayError(RuntimeError):
    """Headful mode needs an X display and none could be started."""


@contextmanager
def virtual_display(width: int = 1920, height: int = 1080) -> Iterator[str]:
    """An Xvfb display for a headed browser, stopped on exit; yields its name (":99").  Xvfb picks a free
    display number itself (``-displayfd``), so concurrent crawls on one host do not collide."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise VirtualDisplayError("headful mode needs Xvfb: install Debian's xvfb (scripts/install_system.sh)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number.isdigit():
            raise VirtualDisplayError(f"Xvfb did not start (exit code {proc.poll()})")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MediaBlocker:
    """Blocks media (and images) on one page through its DevTools session, counting what was blocked by type.

    Only the page's own requests are covered (not a service worker's); that is where a feed's video and cover
    requests come from."""

    def __init__(self, context, page, *, media: bool, images: bool):
        self.blocked: Counter = Counter()
        patterns = (MEDIA_URL_PATTERNS if media else ()) + (IMAGE_URL_PATTERNS if images else ())
        self.session = context.new_cdp_session(page)
        self.session.send("Network.enable")
        self.session.send("Network.setBlockedURLs", {"urls": list(patterns)})
        self.session.on("Network.loadingFailed", self._on_failed)

    def _on_failed(self, event: dict) -> None:
        if event.get("blockedReason") == "inspector":  # blocked by setBlockedURLs, not a network error
            self.blocked[str(event.get("type") or "other").lower()] += 1
