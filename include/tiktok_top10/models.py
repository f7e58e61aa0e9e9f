"""The item model shared by every stage, and the Android app's Top-10 entry.

``VideoItem`` is one line of ``raw/items.jsonl``: what the crawler kept of a TikTok item.  Stages add their
verdicts in their own files (``work/dedup.jsonl``, ``work/language.jsonl``) keyed by ``(category, id)``; they
never rewrite the crawl output.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

VIDEO_ID = re.compile(r"^[0-9]{1,25}$")


def canonical_url(unique_id: str, video_id: str) -> str:
    """TikTok's canonical video URL; the unit of uniqueness when ranking."""
    return f"https://www.tiktok.com/@{unique_id}/video/{video_id}"


class VideoItem(BaseModel):
    """A crawled TikTok video as the pipeline keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="TikTok video id (digits)")
    category: str
    title: str = Field(default="", description="caption (desc) with hashtags inline; '' when untitled")
    author_nickname: str = ""
    author_unique_id: str
    views: int = Field(ge=0)
    likes: int = Field(ge=0)
    url: str
    cover_url: str = ""
    thumbnail: str | None = Field(default=None, description="path relative to raw/, e.g. thumbnails/<id>.jpg")
    thumbnail_error: str | None = None
    text_language: str | None = None
    create_time: int | None = None
    source_url: str = ""

    @field_validator("id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not VIDEO_ID.match(value):
            raise ValueError(f"video id must be digits, got {value!r}")
        return value

    @property
    def key(self) -> str:
        """Stable key across stages: the same video id may appear under two categories."""
        return f"{self.category}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# The app's VideoData, field for field (shared/DESIGN.md): the order here is the order written.
APP_FIELDS = ("id", "title", "author", "views", "likes", "category", "url", "imageFile")


def top10_schema() -> dict:
    """JSON Schema of ``<category>_top10.json`` as publish writes it now (``schemas.APP_SCHEMA``)."""
    from .schemas import app_schema

    return app_schema()
