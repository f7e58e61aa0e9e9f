"""The demo source: a local stand-in for www.tiktok.com that the project's real crawler crawls.

``generator`` decides a day's content and its ground truth (``expected_top10``), ``covers`` draws the cover
images, ``server`` serves both on TikTok's paths.  ``top10 demo-site`` runs it in the foreground.
"""

from .generator import DEMO_SOURCES, DemoDay, DemoItem, expected_top10, generate_day
from .server import DemoSite, cli_main, create_app

__all__ = ["DEMO_SOURCES", "DemoDay", "DemoItem", "DemoSite", "cli_main", "create_app", "expected_top10",
           "generate_day"]
