"""JSON Schemas of what the Android app downloads, one file per version (``top10.schema.json`` is v1, kept
unchanged for readers of the old contract; ``top10.<version>.schema.json`` for later ones).  Versions only
add fields: an app that reads v1 reads every later file."""

from __future__ import annotations

import json
from importlib import resources

APP_SCHEMA = "top10.v2"  # what publish writes and validates against; the manifest names it as ``app_schema``


def app_schema(version: str = APP_SCHEMA) -> dict:
    """The JSON Schema of ``<category>_top10.json`` at ``version`` (``"top10"`` is v1)."""
    text = resources.files(__name__).joinpath(f"{version}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)
