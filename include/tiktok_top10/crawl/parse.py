"""Turn TikTok's feed JSON (as the page receives it) into validated ``VideoItem``s.

TikTok answers the page's scroll XHRs with several envelopes (``itemList``; search's ``item_list``; search's
``data: [{type, item}]`` with the item nested one level).  Counters come twice: ``stats`` rounded ints and
``statsV2`` exact strings; we prefer the exact ones (a ``statsV2`` value that is not digits falls back to
``stats``).  Ads are skipped, counted, and kept aside in ``ParseTally.ads`` (the crawl records them as
dropped).  A malformed item never aborts a page: it is skipped and counted under a reason, so
a changed field shows up in the summary instead of a crash.

Photo posts (``imagePost``, often with an empty ``video``) are kept: their page is ``/@user/photo/<id>`` and
their cover is ``imagePost.cover`` when ``video.cover`` is empty.

Envelope signals (TikTok-Api's ``ERROR_CODES``, ../shared/DESIGN.md): ``{"type": "verify"}`` and status 10000 /
10113 / 10114 are a captcha or anti-bot block (``CaptchaBlocked``); 10102 is "user not logged in"
(``LoginRequired``); 10204 (VIDEO_NOT_EXIST) on a list means nothing is there, which is counted, not raised.
Every status code seen is counted as ``status_<code>``.

Server-rendered data (``__UNIVERSAL_DATA_FOR_REHYDRATION__``): the first screen of a page may arrive only
there.  Its scope names differ per page and change over time, so items are found by shape anywhere under
``__DEFAULT_SCOPE__`` (``ssr_items``), and the region TikTok assigned is read from ``webapp.app-context``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from pydantic import ValidationError

from ..models import VIDEO_ID, VideoItem, canonical_url
from .errors import CaptchaBlocked, LoginRequired

# statusCode values that are a block, not a feed (TikTok-Api's ERROR_CODES table)
CAPTCHA_STATUS = {10000: "VERIFY_CODE", 10113: "SHARK_SLIDE", 10114: "SHARK_BLOCK"}
LOGIN_STATUS = 10102  # USER_NOT_LOGIN
# 10204 (VIDEO_NOT_EXIST) is not here: on a list it means nothing is there, counted like any status code
# (yt-dlp reads it as an IP block only on a single video's page).
SSR_SCRIPT = re.compile(
    rb'<script[^>]*\bid=["\']__UNIVERSAL_DATA_FOR_REHYDRATION__["\'][^>]*>(.*?)</script>', re.S | re.I)

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
    # the well-formed ads, by id (most views wins): the crawl writes them to dropped.jsonl for ``top10 explain``;
    # their count is ``skipped["ad"]`` (every ad entry, repeats and malformed ones included)
    ads: dict[str, VideoItem] = field(default_factory=dict)


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
    types (users, hashtags, "people also searched") are not items at all (``(None, reason)``).  An ad comes back
    as ``(item, "ad")``: skipped, but the caller may record it."""
    if wrapped:
        if not isinstance(entry, dict):
            raise MalformedItem("not_an_object")
        if entry.get("type", 1) != 1 or "item" not in entry:
            return None, "non_video_entry"
        entry = entry["item"]
    if not isinstance(entry, dict):
        raise MalformedItem("not_an_object")
    if entry.get("isAd") or entry.get("is_ad"):
        return entry, "ad"
    return entry, None


def _number(value: Any) -> int | None:
    """A non-negative count, or None when ``value`` is not one ("1.2M", -4, True, ...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if number >= 0 else None


def _count(item: dict, name: str, *, required: bool, normalised: Counter | None = None) -> int | None:
    exact = item["statsV2"].get(name) if isinstance(item.get("statsV2"), dict) else None
    rounded = item["stats"].get(name) if isinstance(item.get("stats"), dict) else None
    present = [v for v in (exact, rounded) if v is not None and v != ""]
    for position, value in enumerate(present):
        number = _number(value)
        if number is not None:
            if position > 0 and normalised is not None:
                normalised[f"{name}_from_rounded_stats"] += 1  # statsV2 said "1.2M" or similar
            return number
    if present:
        raise MalformedItem(f"bad_{name}")
    if required:
        raise MalformedItem("missing_stats")
    return None


def _absolute(value: Any, source_url: str) -> str:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    if isinstance(value, str) and value.startswith("/"):
        return urljoin(source_url, value)  # the demo site serves covers beside its pages
    return ""


def _cover_url(item: dict, source_url: str) -> str:
    video = item.get("video")
    if isinstance(video, dict):
        for key in ("cover", "originCover", "dynamicCover"):
            found = _absolute(video.get(key), source_url)
            if found:
                return found
    # photo posts: imagePost.cover.imageURL.urlList, else the first image's
    post = item.get("imagePost")
    if isinstance(post, dict):
        images = post.get("images") if isinstance(post.get("images"), list) else []
        for holder in [post.get("cover"), *images[:1]]:
            image_url = holder.get("imageURL") if isinstance(holder, dict) else None
            urls = image_url.get("urlList") if isinstance(image_url, dict) else None
            for value in urls if isinstance(urls, list) else []:
                found = _absolute(value, source_url)
                if found:
                    return found
    return ""


def is_photo_post(item: dict) -> bool:
    return isinstance(item.get("imagePost"), dict)


def post_url(unique_id: str, post_id: str, *, photo: bool) -> str:
    """TikTok's canonical page of a post: ``/video/<id>``, or ``/photo/<id>`` for a photo post."""
    return f"https://www.tiktok.com/@{unique_id}/photo/{post_id}" if photo else canonical_url(unique_id, post_id)


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
    views = _count(raw, "playCount", required=True, normalised=normalised)
    likes = _count(raw, "diggCount", required=False, normalised=normalised) or 0
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
            url=post_url(author["uniqueId"], video_id, photo=is_photo_post(raw)),
            cover_url=_cover_url(raw, source_url),
            text_language=(
                language if isinstance(language, str) and re.fullmatch(r"[A-Za-z-]{2,12}", language) else None
            ),
            create_time=create_time,
            source_url=source_url,
        )
    except ValidationError as exc:
        raise MalformedItem(f"invalid_{exc.errors()[0]['loc'][0]}") from None


def items_from_payload(
    payload: Any, *, category: str, source_url: str, tally: ParseTally
) -> tuple[list[VideoItem], Envelope]:
    """Items of one decoded feed response.  Raises ``CaptchaBlocked`` on a verify answer or status 10000 /
    10113 / 10114 and ``LoginRequired`` on 10102; every status code is counted, 10204 (nothing there) included."""
    raise_for_signals(payload, source_url=source_url, tally=tally)
    envelope = read_envelope(payload)
    return items_from_entries(envelope.items, wrapped=envelope.wrapped, category=category, source_url=source_url,
                              tally=tally), envelope


def raise_for_signals(payload: Any, *, source_url: str, tally: ParseTally) -> None:
    """Count the envelope's status code; raise when the answer is a captcha, an anti-bot block or a login wall."""
    if not isinstance(payload, dict):
        return
    if payload.get("type") == "verify" or "verifyConfig" in payload:
        tally.responses["verify"] += 1
        raise CaptchaBlocked(f"TikTok answered a feed request with a captcha request (type=verify) on {source_url}",
                             url=source_url)
    status = _status(payload)
    if status is None:
        return
    tally.responses[f"status_{status}"] += 1
    message = payload.get("statusMsg") or payload.get("status_msg") or ""
    if status in CAPTCHA_STATUS:
        raise CaptchaBlocked(f"TikTok API statusCode {status} ({CAPTCHA_STATUS[status]}) {message}".rstrip()
                             + f" on {source_url}: anti-bot block", url=source_url)
    if status == LOGIN_STATUS:
        raise LoginRequired(f"TikTok API statusCode 10102 (USER_NOT_LOGIN) on {source_url}: this source needs a "
                            "logged-in session; export one into the tiktok_default connection (README, "
                            "\"First live run\") or drop the source", url=source_url)


def items_from_entries(entries: list[Any], *, wrapped: bool, category: str, source_url: str,
                       tally: ParseTally) -> list[VideoItem]:
    out: list[VideoItem] = []
    for entry in entries:
        try:
            raw, skip = unwrap_entry(entry, wrapped=wrapped)
            if skip:
                tally.skipped[skip] += 1
                if skip == "ad":
                    _keep_ad(raw, category=category, source_url=source_url, tally=tally)
                continue
            out.append(video_item(raw, category=category, source_url=source_url, normalised=tally.normalised))
        except MalformedItem as exc:
            tally.malformed[exc.reason] += 1
    return out


def _keep_ad(raw: dict, *, category: str, source_url: str, tally: ParseTally) -> None:
    """Keep a well-formed ad aside (most views wins); a malformed one stays a count in ``skipped["ad"]``."""
    try:
        ad = video_item(raw, category=category, source_url=source_url)
    except MalformedItem:
        return
    held = tally.ads.get(ad.id)
    if held is None or ad.views > held.views:
        tally.ads[ad.id] = ad


# --- server-rendered data ------------------------------------------------------------------------------------


@dataclass
class ServerData:
    """What ``__UNIVERSAL_DATA_FOR_REHYDRATION__`` carried: item structs and the region TikTok assigned."""

    items: list[dict]
    region: str | None


def ssr_blob(html: bytes | str) -> dict | None:
    """The decoded rehydration blob of a page's HTML, or None when the page has none (or it is not JSON)."""
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    found = SSR_SCRIPT.search(data or b"")
    if not found:
        return None
    try:
        blob = json.loads(found.group(1))
    except ValueError:
        return None
    return blob if isinstance(blob, dict) else None


def looks_like_item(value: Any) -> bool:
    """An item struct, by shape: ``id``, ``author``, counters and a ``video`` (or an ``imagePost``)."""
    return (isinstance(value, dict) and "id" in value and isinstance(value.get("author"), dict)
            and (isinstance(value.get("stats"), dict) or isinstance(value.get("statsV2"), dict))
            and ("video" in value or "imagePost" in value))


def ssr_items(blob: dict) -> ServerData:
    """Every item struct anywhere under ``__DEFAULT_SCOPE__`` (scope names differ per page: not a fixed path),
    unique by id in document order, and ``webapp.app-context.region``."""
    scope = blob.get("__DEFAULT_SCOPE__")
    if not isinstance(scope, dict):
        return ServerData([], None)
    found: dict[str, dict] = {}
    stack: list[Any] = [scope]
    while stack:  # depth-first, children pushed in reverse so the document order is kept
        node = stack.pop()
        if looks_like_item(node):
            found.setdefault(str(node["id"]), node)
            continue  # an item's own fields hold no further items
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend(reversed([c for c in children if isinstance(c, (dict, list))]))
    context = scope.get("webapp.app-context")
    region = context.get("region") if isinstance(context, dict) else None
    return ServerData(list(found.values()), region if isinstance(region, str) and region else None)
