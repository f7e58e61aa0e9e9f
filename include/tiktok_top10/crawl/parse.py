"""Turn TikTok's feed JSON (as the page receives it) into validated ``VideoItem``s.

TikTok answers the page's scroll XHRs with several envelopes (``itemList``; search's ``item_list``; search's
``data: [{type, item}]`` with the item nested one level).  Counters come twice: ``stats`` rounded ints and
``statsV2`` exact strings; we prefer the exact ones.  Ads are skipped.  A malformed item never aborts a page:
it is skipped and counted under a reason, so a changed field shows up in the summary instead of a crash.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from pydantic import ValidationError

from ..models import VIDEO_ID, VideoItem, canonical_url
from .errors import IpBlocked

IP_BLOCKED_STATUS = 10204  # "IP address is blocked"
# TikTok captions are capped at 4,000 characters; anything longer did not come from TikTok's editor.
MAX_CAPTION_CHARS = 4_000
MAX_NICKNAME_CHARS = 100
# C0/C1 controls (NUL included) and DEL, except tab and newline, which real captions use.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A handle goes into the canonical URL (https://www.tiktok.com/@<handle>/video/<id>): nothing that would change
# the URL's path, query or host.  TikTok's own handles are letters, digits, "_" and ".".
SAFE_HANDLE = re.compile(r"^[^\s/\\?#@%&:\x00-\x1f\x7f]{1,64}$")


@dataclass
class Envelope:
    """What one feed response carried."""

    items: list[Any]
    status_code: int | None
    has_more: bool | None
    wrapped: bool = False  # search/general: each entry is {"type", "item": {...}}


@dataclass
class ParseTally:
    """Counts of everything that was not a kept item, by reason."""

    malformed: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # ads, non-video search entries
    responses: Counter = field(default_factory=Counter)  # feed, empty_body, bad_json, status_<code>
    normalised: Counter = field(default_factory=Counter)  # kept, but a field was cleaned: control_chars, ...


def clean_text(value: object, limit: int, field_name: str, normalised: Counter | None) -> str:
    """A display string without control characters, clipped to ``limit``; each change counted by reason."""
    if not isinstance(value, str):
        return ""
    text = CONTROL_CHARS.sub("", value)
    if text != value and normalised is not None:
        normalised[f"{field_name}_control_chars"] += 1
    if len(text) > limit:
        text = text[:limit]
        if normalised is not None:
            normalised[f"{field_name}_clipped"] += 1
    return text


class MalformedItem(ValueError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _status(payload: dict) -> int | None:
    for key in ("statusCode", "status_code"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
    return None


def _has_more(payload: dict) -> bool | None:
    for key in ("hasMore", "has_more"):
        if key in payload and payload[key] is not None:
            return bool(payload[key])
    return None


def read_envelope(payload: Any) -> Envelope:
    """The item list, status code and has-more flag of any known envelope; unknown shapes yield no items."""
    if not isinstance(payload, dict):
        return Envelope([], None, None)
    items: list[Any] = []
    for key in ("itemList", "item_list"):
        if isinstance(payload.get(key), list):
            items = payload[key]
            break
    else:
        data = payload.get("data")
        if isinstance(data, list):
            return Envelope(data, _status(payload), _has_more(payload), wrapped=True)
    return Envelope(items, _status(payload), _has_more(payload))


def unwrap_entry(entry: Any, *, wrapped: bool) -> tuple[dict | None, str | None]:
    """``(item, skip_reason)``: search entries nest the item under ``item``; ``type`` 1 is a video, other
    types (users, hashtags, "people also searched") are not items at all."""
    if wrapped:
        if not isinstance(entry, dict):
            raise MalformedItem("not_an_object")
        if entry.get("type", 1) != 1 or "item" not in entry:
            return None, "non_video_entry"
        entry = entry["item"]
    if not isinstance(entry, dict):
        raise MalformedItem("not_an_object")
    if entry.get("isAd") or entry.get("is_ad"):
        return None, "ad"
    return entry, None


def _count(item: dict, name: str, *, required: bool) -> int | None:
    exact = (item.get("statsV2") or {}).get(name) if isinstance(item.get("statsV2"), dict) else None
    rounded = (item.get("stats") or {}).get(name) if isinstance(item.get("stats"), dict) else None
    for value in (exact, rounded):
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            raise MalformedItem(f"bad_{name}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        else:
            raise MalformedItem(f"bad_{name}")
        if number < 0:
            raise MalformedItem(f"bad_{name}")
        return number
    if required:
        raise MalformedItem("missing_stats")
    return None


def _cover_url(item: dict, source_url: str) -> str:
    video = item.get("video")
    if not isinstance(video, dict):
        return ""
    for key in ("cover", "originCover", "dynamicCover"):
        value = video.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
        if isinstance(value, str) and value.startswith("/"):
            return urljoin(source_url, value)  # the demo site serves covers beside its pages
    return ""


def video_item(raw: dict, *, category: str, source_url: str, normalised: Counter | None = None) -> VideoItem:
    """A validated item, or ``MalformedItem(reason)``.  Captions and nicknames are display text only (files
    are named by video id): control characters are dropped and length capped, counted in ``normalised``."""
    video_id = raw.get("id")
    if isinstance(video_id, int) and not isinstance(video_id, bool):
        video_id = str(video_id)
    if not isinstance(video_id, str) or not VIDEO_ID.match(video_id):
        raise MalformedItem("bad_id")
    author = raw.get("author")
    if not isinstance(author, dict) or not isinstance(author.get("uniqueId"), str) or not author["uniqueId"]:
        raise MalformedItem("missing_author")
    if not SAFE_HANDLE.match(author["uniqueId"]):
        raise MalformedItem("bad_author_handle")
    views = _count(raw, "playCount", required=True)
    likes = _count(raw, "diggCount", required=False) or 0
    create_time = raw.get("createTime")
    if isinstance(create_time, str) and create_time.isdigit():
        create_time = int(create_time)
    if not isinstance(create_time, int) or isinstance(create_time, bool):
        create_time = None
    desc = clean_text(raw.get("desc"), MAX_CAPTION_CHARS, "title", normalised)
    language = raw.get("textLanguage")
    nickname = clean_text(author.get("nickname"), MAX_NICKNAME_CHARS, "nickname", normalised)
    try:
        return VideoItem(
            id=video_id,
            category=category,
            title=desc,
            author_nickname=nickname,
            author_unique_id=author["uniqueId"],
            views=views,
            likes=likes,
            url=canonical_url(author["uniqueId"], video_id),
            cover_url=_cover_url(raw, source_url),
            text_language=language if isinstance(language, str) and re.fullmatch(r"[A-Za-z-]{2,12}", language) else None,
            create_time=create_time,
            source_url=source_url,
        )
    except ValidationError as exc:
        raise MalformedItem(f"invalid_{exc.errors()[0]['loc'][0]}") from None


def items_from_payload(
    payload: Any, *, category: str, source_url: str, tally: ParseTally
) -> tuple[list[VideoItem], Envelope]:
    """Items of one decoded feed response. Raises ``IpBlocked`` on status 10204; other errors are counted."""
    envelope = read_envelope(payload)
    if envelope.status_code == IP_BLOCKED_STATUS:
        message = payload.get("statusMsg") or payload.get("status_msg") or "IP address is blocked"
        raise IpBlocked(f"TikTok API statusCode 10204: {message}", url=source_url)
    if envelope.status_code not in (None, 0):
        tally.responses[f"status_{envelope.status_code}"] += 1
    out: list[VideoItem] = []
    for entry in envelope.items:
        try:
            raw, skip = unwrap_entry(entry, wrapped=envelope.wrapped)
            if skip:
                tally.skipped[skip] += 1
                continue
            out.append(video_item(raw, category=category, source_url=source_url, normalised=tally.normalised))
        except MalformedItem as exc:
            tally.malformed[exc.reason] += 1
    return out, envelope
