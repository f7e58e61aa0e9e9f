"""Download video covers: concurrently (bounded), only from allowed hosts, capped in size, sniffed by content.

A cover URL comes from a page we do not control, so every hop (redirects included) must be on the allow-list
(TikTok's CDNs plus the configured source hosts), the body may not exceed a cap (a stream that never ends must
not fill the disk), and the bytes decide the format, not the extension (real covers include PNGs named .jpg).
Transient failures (timeouts, connection errors, 429, 5xx) are retried with backoff; every final failure is
counted by reason and recorded on the item, never silently dropped.  Files are named by video id only.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image

from ..storage import atomic_write_bytes

# TikTok serves covers from these CDN domains (and subdomains: p16-sign-va.tiktokcdn.com, ...).
TIKTOK_CDN_DOMAINS = (
    "tiktokcdn.com",
    "tiktokcdn-us.com",
    "tiktokcdn-eu.com",
    "tiktokv.com",
    "tiktokv.us",
    "tiktok.com",
    "ibytedtos.com",
    "byteoversea.com",
    "muscdn.com",
)
# Pillow format -> file extension; anything else is "not_image".
IMAGE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "AVIF": "avif"}
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# Real covers reach 2160x3840 (8.3 MP); an 8K frame is 33 MP.  Beyond 40 MP it is a decompression bomb, not a
# cover (the same cap as publish's re-encode).
MAX_COVER_PIXELS = 40_000_000


@dataclass(frozen=True)
class CoverPolicy:
    allowed_domains: tuple[str, ...] = TIKTOK_CDN_DOMAINS
    max_bytes: int = 12 * 1024 * 1024  # a 2160x3840 PNG cover is ~8 MB; JPEG covers are < 1 MB
    concurrency: int = 8
    attempts: int = 3
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    deadline_s: float = 30.0  # per attempt, whole body: catches a server that trickles bytes forever
    backoff_s: float = 0.5
    max_redirects: int = 5

    def with_hosts(self, *urls: str) -> CoverPolicy:
        """Also allow the hosts of these URLs (the configured sources' site)."""
        hosts = tuple(h for h in (urlsplit(u).hostname for u in urls) if h)
        return replace(self, allowed_domains=tuple(dict.fromkeys(self.allowed_domains + hosts)))

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return False
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)


class CoverFailure(Exception):
    def __init__(self, reason: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class CoverResult:
    video_id: str
    path: Path | None = None  # relative to the destination's parent: thumbnails/<id>.<ext>
    error: str | None = None
    attempts: int = 0
    bytes: int = 0


@dataclass
class DownloadReport:
    results: dict[str, CoverResult] = field(default_factory=dict)
    failures: Counter = field(default_factory=Counter)
    bytes: int = 0

    @property
    def ok(self) -> int:
        return sum(1 for r in self.results.values() if r.path is not None)


def sniff_image(data: bytes) -> str:
    """The file extension the bytes deserve, after a real decode; ``CoverFailure("not_image")`` otherwise."""
    if not data:
        raise CoverFailure("empty_body")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
            # the header's size decides before any pixel is decoded: a 12 MB PNG can claim 900 MP
            if image.width * image.height > MAX_COVER_PIXELS:
                raise CoverFailure("too_many_pixels")
            image.load()  # full decode: a truncated JPEG fails here, not later in dedup
    except CoverFailure:
        raise
    except Image.DecompressionBombError:
        raise CoverFailure("too_many_pixels") from None
    except Exception as exc:
        raise CoverFailure("truncated_image" if "truncated" in str(exc) else "not_image") from None
    if fmt not in IMAGE_EXTENSIONS:
        raise CoverFailure("not_image")
    # Pillow decodes a cut-off JPEG silently when some other module set ImageFile.LOAD_TRUNCATED_IMAGES
    if fmt == "JPEG" and b"\xff\xd9" not in data[-64:]:
        raise CoverFailure("truncated_image")
    return IMAGE_EXTENSIONS[fmt]


async def _fetch_once(client: httpx.AsyncClient, url: str, policy: CoverPolicy) -> bytes:
    for _ in range(policy.max_redirects + 1):
        if not policy.allows(url):
            raise CoverFailure("host_not_allowed")
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise CoverFailure("bad_redirect")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                retry_after = response.headers.get("retry-after", "")
                raise CoverFailure(
                    f"http_{response.status_code}",
                    retryable=response.status_code in RETRYABLE_STATUS,
                    retry_after=float(retry_after) if retry_after.isdigit() else None,
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                raise CoverFailure("too_large")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > policy.max_bytes:
                    raise CoverFailure("too_large")
                chunks.append(chunk)
            return b"".join(chunks)
    raise CoverFailure("too_many_redirects")


async def _download_one(
    client: httpx.AsyncClient, video_id: str, url: str, dest: Path, policy: CoverPolicy, gate: asyncio.Semaphore
) -> CoverResult:
    result = CoverResult(video_id)
    if not url:
        result.error = "no_cover_url"
        return result
    async with gate:
        for attempt in range(1, policy.attempts + 1):
            result.attempts = attempt
            try:
                data = await asyncio.wait_for(_fetch_once(client, url, policy), policy.deadline_s)
                # decoding a 1080x1920 cover takes ~10 ms of CPU: off the event loop, so downloads keep flowing
                ext = await asyncio.to_thread(sniff_image, data)
                path = dest / f"{video_id}.{ext}"
                await asyncio.to_thread(atomic_write_bytes, path, data)
                result.path, result.error, result.bytes = Path(dest.name) / path.name, None, len(data)
                return result
            except CoverFailure as exc:
                failure = exc
            except (TimeoutError, httpx.TimeoutException):
                failure = CoverFailure("timeout", retryable=True)
            except httpx.TransportError:
                failure = CoverFailure("connection_error", retryable=True)
            result.error = failure.reason
            if not failure.retryable or attempt == policy.attempts:
                return result
            # exponential backoff with jitter; honour a short Retry-After
            delay = policy.backoff_s * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, 10.0))
            await asyncio.sleep(delay)
    return result


async def download_covers_async(
    covers: dict[str, str], dest: Path, policy: CoverPolicy = CoverPolicy()
) -> DownloadReport:
    dest.mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(max(1, policy.concurrency))
    timeout = httpx.Timeout(policy.read_timeout_s, connect=policy.connect_timeout_s)
    limits = httpx.Limits(max_connections=max(1, policy.concurrency), max_keepalive_connections=policy.concurrency)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/avif,image/webp,image/png,image/jpeg,*/*;q=0.5"}
    # trust_env=False: never pick up a proxy from the environment by surprise
    async with httpx.AsyncClient(
        timeout=timeout, limits=limits, headers=headers, follow_redirects=False, trust_env=False
    ) as client:
        results = await asyncio.gather(
            *(_download_one(client, vid, url, dest, policy, gate) for vid, url in covers.items())
        )
    report = DownloadReport()
    for result in results:
        report.results[result.video_id] = result
        report.bytes += result.bytes
        if result.error:
            report.failures[result.error] += 1
    return report


def download_covers(covers: dict[str, str], dest: Path, policy: CoverPolicy = CoverPolicy()) -> DownloadReport:
    """Download ``{video_id: cover_url}`` into ``dest/<id>.<ext>``. Never raises for a single bad cover."""
    return asyncio.run(download_covers_async(covers, dest, policy))


USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
