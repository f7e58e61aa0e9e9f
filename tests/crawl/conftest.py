import pytest

from tiktok_top10.crawl.browser import BrowserOptions

from .hostile_site import HostileSite


@pytest.fixture
def site():
    with HostileSite() as hostile:
        yield hostile


@pytest.fixture
def fast_browser() -> BrowserOptions:
    """Real Chromium, short waits: the hostile site answers in milliseconds."""
    return BrowserOptions(response_wait_s=1.0, scroll_pause_s=(0.02, 0.08), idle_scrolls=2, budget_s=60, seed=7)
