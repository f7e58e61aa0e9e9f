import pytest

from tiktok_top10.demo import DemoSite


@pytest.fixture(scope="session")
def demo_site():
    with DemoSite(host="127.0.0.1", port=0, seed=7) as site:
        yield site
