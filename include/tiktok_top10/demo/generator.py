"""One demo day: TikTok-shaped items per category, their covers, their sources, and the ground truth.

Everything is a pure function of ``(day, seed)``.  The mix is chosen so that each product rule changes the
published Top-10: among the most viewed items of each category sit foreign captions (some with a Korean
hashtag), ads, broken covers, the same video id listed under two categories, and re-uploads of a top video
under other ids with edited covers.  ``DemoDay.expected_top10`` applies docs/architecture.md's rules to the
ground truth, so an end-to-end run can be compared with what it should have published.

View counts: ``statsV2`` carries the exact counts, ``stats`` TikTok's rounded ones (2 significant digits).
The generator keeps the two consistent for ranking (the top of each category never ties after rounding and no
count rounds across ``min_views``), so the Top-10 is the same whichever a crawler reads.

Continuity: the day after a published day is not all new.  ``generate_day`` reads the data root's published
app files of the days before (``<root>/<day-1>/<category>/top10/<category>_top10.json``, and back while days
follow one another, at most ``HISTORY_DAYS``) and carries ``CARRIED_PER_CATEGORY`` of yesterday's published
videos of each category into today under the same id, URL and cover with new view counts, so ranks move; one
more of them comes back re-uploaded (another id, URL and author, a slightly edited copy of the cover), which the
dedup memory's history match recognises.  ``DemoDay.previous_ranks`` records the ``previousRank`` each of them
should get.  The content is a pure function of ``(day, seed, those published files)``: a first day (no files)
is the same as before, and the same files give the same day.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import random
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from ..config import CATEGORIES, KST
from ..models import canonical_url
from ..storage import DayLayout
from .captions import CAPTION_KINDS, foreign_author, korean_author, make_caption, text_extra
from .covers import EDITS, CoverSpec

# Sources per category, as on TikTok (shared/DESIGN.md); (kind, value) with kind discover | search | explore.
SOURCE_SPECS: dict[str, tuple[tuple[str, str], ...]] = {
    "main": (("discover", "틱톡-조회수-많은-순으로-정렬"), ("explore", "")),
    "dance": (("discover", "조회수-많이-나오는-춤-2025"), ("search", "틱톡 춤")),
    "challenge": (("discover", "조회수-많이-나오는-틱톡-챌린지"), ("search", "인기 챌린지")),
    "food": (("discover", "틱톡-먹방조회수-1위-영상"), ("search", "음식 레시피")),
    "tts": (("search", "tts 조회수"), ("search", "tts 밈")),
}


# The demo's search gates logged-out visitors as TikTok's often does, so each search has a logged-out stand-in:
# the hashtag page of its topic lists what the search would (crawl/sources.json crawls these logged out).
TAG_FOR_SEARCH: dict[str, str] = {"틱톡 춤": "춤", "인기 챌린지": "챌린지", "음식 레시피": "먹방", "tts 조회수": "tts",
                                  "tts 밈": "밈"}


def source_path(kind: str, value: str) -> str:
    """The page path of a source, unquoted (``/search?q=틱톡 춤``); quote it to put it in a URL."""
    return {"discover": f"/discover/{value}", "search": f"/search?q={value}", "explore": "/explore"}[kind]


def source_url(kind: str, value: str) -> str:
    """The same path percent-encoded, as a browser would request it."""
    return {"discover": f"/discover/{quote(value, safe='-')}", "search": f"/search?q={quote(value, safe='')}",
            "explore": "/explore"}[kind]


DEMO_SOURCES: dict[str, list[str]] = {cat: [source_path(k, v) for k, v in specs] for cat, specs in SOURCE_SPECS.items()}

BASE_VIDEOS_PER_CATEGORY = 184  # + 3 shared from another category + 8 re-uploads = ~195 served per category
SHARED_PER_CATEGORY = 3
REUPLOADS_PER_CATEGORY = 8
BROKEN_STATUSES = ("truncated", "missing", "html")
DEFAULT_MIN_VIEWS = 100_000
CARRIED_PER_CATEGORY = 5  # of yesterday's published Top-10 of a category, listed again today under the same id
HISTORY_DAYS = 7  # how far back published days are followed (each is one more day to generate, ~0.15 s)
# edits of the day-over-day re-upload: the light ones, as a re-uploader who saved the cover would make
HISTORY_REUPLOAD_EDITS = (("reencode",), ("crop",), ("tone",))


class _FromDataRoot:
    def __repr__(self) -> str:
        return "FROM_DATA_ROOT"


FROM_DATA_ROOT = _FromDataRoot()  # generate_day's default history: the configured data root


def round_count(n: int) -> int:
    """TikTok's rounded counter (``stats``): 2 significant digits, e.g. 1585253 -> 1600000."""
    if n < 1000:
        return n
    magnitude = 10 ** (int(math.log10(n)) - 1)
    return int(round(n / magnitude)) * magnitude


@dataclass
class DemoItem:
    """One served item (a video as listed under one category) with its ground truth."""

    category: str
    item: dict  # the TikTok-shaped JSON item; cover URLs are site-relative ("/covers/...")
    video_key: str  # shared by re-uploads of the same video and by the same id listed in two categories
    korean: bool
    cover: CoverSpec
    cover_name: str
    caption_kind: str
    sources: tuple[str, ...] = ()
    reupload_of: str | None = None  # the original's id, for planted re-uploads
    carried_from: dt.date | None = None  # the published day this item was carried over from (same id)

    @property
    def id(self) -> str:
        return self.item["id"]

    @property
    def views(self) -> int:
        return int(self.item["statsV2"]["playCount"])

    @property
    def likes(self) -> int:
        return int(self.item["statsV2"]["diggCount"])

    @property
    def is_ad(self) -> bool:
        return bool(self.item.get("isAd"))

    @property
    def cover_status(self) -> str:
        return self.cover.status

    @property
    def is_photo(self) -> bool:
        return "imagePost" in self.item

    @property
    def url(self) -> str:
        if self.is_photo:  # photo posts have their own page (shared/DESIGN.md)
            return f"https://www.tiktok.com/@{self.item['author']['uniqueId']}/photo/{self.id}"
        return canonical_url(self.item["author"]["uniqueId"], self.id)

    @property
    def cover_path(self) -> str:
        """The site-relative cover URL, wherever the item carries it (a photo post: ``imagePost.cover``)."""
        return self.item["video"].get("cover") or self.item["imagePost"]["cover"]["imageURL"]["urlList"][0]


@dataclass(frozen=True)
class PublishedChart:
    """What a data root says was published on one day: per category ``(rank, video id, url)``, best first."""

    day: dt.date
    charts: tuple[tuple[str, tuple[tuple[int, str, str], ...]], ...]

    def entries(self, category: str) -> tuple[tuple[int, str, str], ...]:
        return dict(self.charts).get(category, ())


@dataclass
class DemoDay:
    day: dt.date
    seed: int
    items: dict[str, list[DemoItem]]  # category -> items in feed order
    covers: dict[str, CoverSpec] = field(default_factory=dict)  # cover name -> spec
    sources: dict[str, list[DemoItem]] = field(default_factory=dict)  # unquoted source path -> items in order
    previous_day: dt.date | None = None  # the published day carried from (None: a first day)
    # category -> {video id served today -> the rank its video had in that category on ``previous_day``}: the
    # carried videos (matched by URL) and the re-uploads of published ones (matched by the dedup memory)
    previous_ranks: dict[str, dict[str, int]] = field(default_factory=dict)

    def previous_rank(self, category: str, video_id: str) -> int | None:
        """The ``previousRank`` a correct pipeline gives ``video_id`` if it publishes it in ``category`` (when
        ``previous_day`` is the previous published day)."""
        return self.previous_ranks.get(category, {}).get(video_id)

    def all_items(self) -> list[DemoItem]:
        return [it for cat in CATEGORIES for it in self.items.get(cat, [])]

    def truth(self, category: str, video_id: str) -> DemoItem:
        for it in self.items[category]:
            if it.id == video_id:
                return it
        raise KeyError(f"{category}/{video_id} is not served on {self.day}")

    def expected_top10(self, min_views: int = DEFAULT_MIN_VIEWS, top_n: int = 10,
                       categories: tuple[str, ...] | list[str] = CATEGORIES, *, counts: str = "exact",
                       dedup: bool = True, language: bool = True, covers: bool = True) -> dict[str, list[str]]:
        """Category -> ordered video ids the pipeline should publish (docs/architecture.md's rules).

        ``counts="rounded"`` ranks by ``stats`` instead of ``statsV2``; ``dedup``/``language``/``covers``
        switch a rule off, to show that each rule changes the result.
        """
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        if counts not in ("exact", "rounded"):
            raise ValueError(f"counts must be 'exact' or 'rounded', got {counts!r}")

        def views_likes(it: DemoItem) -> tuple[int, int]:
            if counts == "exact":
                return it.views, it.likes
            return it.item["stats"]["playCount"], it.item["stats"]["diggCount"]

        rows = []
        for cat in categories:
            for it in self.items[cat]:
                views, likes = views_likes(it)
                if views < min_views or it.is_ad:
                    continue
                if covers and it.cover_status in BROKEN_STATUSES:
                    continue
                rows.append((it, views, likes))
        if dedup:
            best: dict[str, tuple] = {}
            for row in rows:
                it, views, likes = row
                rank = (-views, -likes, CATEGORIES.index(it.category), int(it.id))
                if it.video_key not in best or rank < best[it.video_key][0]:
                    best[it.video_key] = (rank, row)
            rows = [row for _, row in best.values()]
        if language:
            rows = [row for row in rows if row[0].korean]
        out: dict[str, list[str]] = {}
        for cat in categories:
            ranked = sorted((r for r in rows if r[0].category == cat), key=lambda r: (-r[1], -r[2], int(r[0].id)))
            seen, ids = set(), []
            for it, _, _ in ranked:
                if it.url in seen:
                    continue
                seen.add(it.url)
                ids.append(it.id)
                if len(ids) == top_n:
                    break
            out[cat] = ids
        return out


def expected_top10(day: dt.date, seed: int = 7, min_views: int = DEFAULT_MIN_VIEWS, top_n: int = 10,
                   categories: tuple[str, ...] | list[str] = CATEGORIES, *,
                   history: Path | str | None | object = FROM_DATA_ROOT) -> dict[str, list[str]]:
    """Category -> ordered TikTok video ids a correct pipeline publishes for the demo day (``history`` as
    for :func:`generate_day`)."""
    return generate_day(day, seed, history=history).expected_top10(min_views, top_n, tuple(categories))


# --- generation ----------------------------------------------------------------------------------------------


def _video_id(rng: random.Random, used: set[str]) -> str:
    while True:
        vid = "7" + "".join(rng.choice(string.digits) for _ in range(18))  # ~19 digits, like 2020s ids
        if vid not in used:
            used.add(vid)
            return vid


def _views(rng: random.Random) -> int:
    """~25 % under 100k; above it an exponential tail in log-space (few videos reach tens of millions)."""
    if rng.random() < 0.25:
        return int(math.exp(rng.uniform(math.log(3_000), math.log(94_000))))
    return int(min(45_000_000, 106_000 * math.exp(rng.expovariate(1 / 1.4))))


def _sec_uid(rng: random.Random) -> str:
    return "MS4wLjABAAAA" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(52))


def _token(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


@dataclass
class _Video:
    """A distinct upload (own id); a listing under a category becomes a ``DemoItem``."""

    id: str
    category: str
    kind: str
    korean: bool
    desc: str
    tags: list[str]
    text_language: str | None
    nickname: str
    unique_id: str
    author_id: str
    sec_uid: str
    verified: bool
    views: int
    likes: int
    create_time: int
    duration: int
    cover: CoverSpec
    cover_name: str
    video_key: str
    is_ad: bool = False
    reupload_of: str | None = None
    extra_categories: list[str] = field(default_factory=list)


def _new_video(rng: random.Random, category: str, used: set[str], day_epoch: int, *, kind: str | None = None,
               video_key: str | None = None) -> _Video:
    if kind is None:
        kind = rng.choices([k for k, _, _ in CAPTION_KINDS], weights=[w for _, _, w in CAPTION_KINDS])[0]
    korean = dict((k, ko) for k, ko, _ in CAPTION_KINDS)[kind]
    desc, tags, text_language = make_caption(kind, category, rng)
    nickname, unique_id = korean_author(rng) if korean else foreign_author(rng)
    vid = _video_id(rng, used)
    views = _views(rng)
    status = rng.choices(("ok", "png", "truncated", "missing", "html"), weights=(93, 3, 1.5, 1.5, 1))[0]
    return _Video(
        id=vid, category=category, kind=kind, korean=korean, desc=desc, tags=tags, text_language=text_language,
        nickname=nickname, unique_id=unique_id, author_id=str(rng.randint(10**17, 10**19 - 1)),
        sec_uid=_sec_uid(rng), verified=rng.random() < 0.1, views=views,
        likes=int(views * rng.uniform(0.02, 0.15)), create_time=day_epoch - rng.randint(3600, 30 * 86400),
        duration=rng.randint(7, 95), cover=CoverSpec(scene=rng.getrandbits(48), status=status,
                                                     quality=rng.randint(82, 92)),
        cover_name=_token(rng), video_key=video_key or f"v{vid}", is_ad=rng.random() < 0.015,
    )


def _item_json(v: _Video, day: dt.date) -> dict:
    cover = f"/covers/{day.isoformat()}/{v.cover_name}.jpg"
    exact = {"playCount": v.views, "diggCount": v.likes, "shareCount": v.likes // 17 + 3,
             "commentCount": v.likes // 40 + 1, "collectCount": v.likes // 9 + 2}
    w, h = (720, 1280)
    item = {
        "id": v.id,
        "desc": v.desc,
        "createTime": v.create_time,
        "author": {"id": v.author_id, "uniqueId": v.unique_id, "nickname": v.nickname, "secUid": v.sec_uid,
                   "verified": v.verified},
        "stats": {k: round_count(n) for k, n in exact.items()},
        "statsV2": {k: str(n) for k, n in exact.items()},
        "video": {"id": v.id, "cover": cover, "originCover": cover + "?origin=1", "dynamicCover": cover + "?dynamic=1",
                  "playAddr": f"/video/{v.id}.mp4", "duration": v.duration, "width": w, "height": h},
        "challenges": [{"id": str(abs(hash_tag(t))), "title": t} for t in v.tags],
        "textExtra": text_extra(v.desc, v.tags),
        "textLanguage": v.text_language,
        "isAd": v.is_ad,
    }
    if is_photo_post(v.id):
        # a photo post ("photo mode"): the cover lives in imagePost, video is left with empty fields
        image = {"imageURL": {"urlList": [cover]}, "imageWidth": w, "imageHeight": h}
        item["video"] = {"id": "", "cover": "", "originCover": "", "dynamicCover": "", "playAddr": "",
                         "duration": 0, "width": 0, "height": 0}
        item["imagePost"] = {"images": [image], "cover": image, "title": ""}
    return item


def is_photo_post(video_id: str) -> bool:
    """About one item in 25 is a photo post: chosen from the id, so the generator's random draws are unchanged."""
    return hash_tag(f"photo:{video_id}") % 25 == 0


def hash_tag(tag: str) -> int:
    """A stable numeric challenge id for a hashtag (Python's ``hash`` is salted per process)."""
    n = 1469598103934665603
    for byte in tag.encode("utf-8"):
        n = ((n ^ byte) * 1099511628211) % (1 << 61)
    return n


def _separate_counts(videos: list[_Video], by_category: dict[str, list[_Video]], min_views: int) -> None:
    """Keep exact and rounded counts ranking alike: no count rounds across ``min_views``, and the 60 most
    viewed of each category fall in distinct rounded buckets (a tie is lowered into the next bucket down)."""

    def off_boundary(v: _Video) -> None:
        if (round_count(v.views) >= min_views) != (v.views >= min_views):
            v.likes = int(v.likes * 0.9 * min_views / v.views)
            v.views = int(min_views * 0.9)

    for v in videos:
        off_boundary(v)
    for _ in range(2000):  # only ever lowers counts, so it settles (~40-80 rounds, rarely 200+)
        changed = False
        for cat in CATEGORIES:
            ranked = sorted(by_category[cat], key=lambda v: (-v.views, -v.likes, int(v.id)))[:60]
            floor = None
            for v in ranked:
                if floor is not None and round_count(v.views) >= floor:
                    # 0.94 x a 2-significant-digit bucket always rounds into a lower bucket
                    new_views = int(floor * 0.94)
                    v.likes = max(1, int(v.likes * new_views / v.views))
                    v.views = new_views
                    off_boundary(v)
                    changed = True
                floor = round_count(v.views)
        if not changed:
            return
    raise RuntimeError("demo generator: view counts did not separate after rounding")


# --- history: what the data root says was published on the days before ---------------------------------------

_CHART_FILES: dict[Path, tuple[tuple[int, int], tuple[tuple[int, str, str], ...]]] = {}  # path -> (stat, entries)


def _chart_entries(path: Path) -> tuple[tuple[int, str, str], ...]:
    """``(rank, video id, url)`` of one published app file, ``()`` when absent or unreadable.  The demo site
    asks for every request, so a file is parsed again only when its size or mtime changed."""
    try:
        stat = path.stat()
    except OSError:
        return ()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _CHART_FILES.get(path)
    if cached and cached[0] == key:
        return cached[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = []
    entries = []
    rows = [row for row in data if isinstance(row, dict) and isinstance(row.get("url"), str)] \
        if isinstance(data, list) else []
    for position, row in enumerate(rows, 1):
        rank = row.get("rank")
        rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else position  # a v1 file: its order
        entries.append((rank, row["url"].rstrip("/").rsplit("/", 1)[-1], row["url"]))
    if len(_CHART_FILES) > 256:  # many data roots (tests): forget the old ones
        _CHART_FILES.clear()
    _CHART_FILES[path] = (key, tuple(entries))
    return tuple(entries)


def read_published_chart(root: Path | str, day: dt.date) -> PublishedChart | None:
    """The app files the data root holds for ``day`` (every category that has one), None when none."""
    layout = DayLayout(Path(root), day)
    charts = tuple((cat, entries) for cat in CATEGORIES if (entries := _chart_entries(layout.top10_json(cat))))
    return PublishedChart(day, charts) if charts else None


def published_history(root: Path | str, day: dt.date, depth: int = HISTORY_DAYS) -> tuple[PublishedChart, ...]:
    """The published charts of ``day - 1``, ``day - 2``, … while each of those days has one (at most
    ``depth``): the inputs besides ``(day, seed)`` that decide a demo day."""
    chain: list[PublishedChart] = []
    for back in range(1, depth + 1):
        chart = read_published_chart(root, day - dt.timedelta(days=back))
        if chart is None:
            break
        chain.append(chart)
    return tuple(chain)


def _configured_data_root() -> Path:
    from ..config import Settings

    try:
        return Settings.from_env().data_root
    except ValueError:  # a bad unrelated setting must not take the demo site down
        return Settings().data_root


def generate_day(day: dt.date, seed: int = 7, *, history: Path | str | None | object = FROM_DATA_ROOT) -> DemoDay:
    """The demo site's content for ``day``: ~200 items per category, deterministic in ``(day, seed)`` and the
    published history.  ``history`` is the data root whose published days before ``day`` are carried into it
    (default: the configured one, ``TIKTOK_TOP10_DATA_ROOT``, as the pipeline writes it); ``None`` generates
    the day as a first day."""
    _check_day(day)
    root = _configured_data_root() if history is FROM_DATA_ROOT else history
    chain = published_history(root, day) if root is not None else ()
    return _generate_day(day, seed, chain)


def _check_day(day: dt.date) -> None:
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError(f"day must be a datetime.date, got {day!r}")


def _video_from_item(it: DemoItem) -> _Video:
    """The upload behind a served item, to list it again on another day."""
    item = it.item
    author = item["author"]
    return _Video(
        id=it.id, category=it.category, kind=it.caption_kind, korean=it.korean, desc=item["desc"],
        tags=[c["title"] for c in item["challenges"]], text_language=item["textLanguage"],
        nickname=author["nickname"], unique_id=author["uniqueId"], author_id=author["id"], sec_uid=author["secUid"],
        verified=author["verified"], views=it.views, likes=it.likes, create_time=item["createTime"],
        duration=item["video"]["duration"] or 15, cover=it.cover, cover_name=it.cover_name,
        video_key=it.video_key, reupload_of=it.reupload_of,
    )


def _served_as(served: dict[str, DemoItem], video_id: str, url: str) -> DemoItem | None:
    it = served.get(video_id)
    return it if it is not None and it.url == url else None


def _carry_over(rngs: dict[str, random.Random], yesterday: DemoDay, chart: PublishedChart, used: set[str],
                day_epoch: int, fifth: dict[str, int]) -> tuple[list[_Video], set[str], dict[str, dict[str, int]]]:
    """Yesterday's published videos that come back today: per category ``CARRIED_PER_CATEGORY`` of its chart
    under the same id, URL and cover with new counts, and one more re-uploaded under a new id by another author
    with a lightly edited cover, viewed more than today's fifth (``fifth``) so that it makes the chart and its
    history match shows.  Entries the generator did not serve yesterday (another seed, the live source) are
    left alone.  Returns the videos, the ids carried as they were, and the ``previousRank`` each
    video should get."""
    videos: list[_Video] = []
    same_ids: set[str] = set()
    previous: dict[str, dict[str, int]] = {}
    for cat in CATEGORIES:
        rng = rngs[cat]  # one stream per category: what comes back in one does not depend on the others
        served = {it.id: it for it in yesterday.items.get(cat, [])}
        entries, seen = [], set()
        for rank, vid, url in sorted(chart.entries(cat), key=lambda entry: entry[0]):
            if vid not in seen:
                seen.add(vid)
                entries.append((rank, vid, url))
        # chosen from the chart alone, then looked up: an entry this generator did not serve is skipped without
        # changing which others are chosen (so a day at the end of HISTORY_DAYS loses only its own carried ones)
        chosen = rng.sample(entries, min(CARRIED_PER_CATEGORY, len(entries)))
        rest = [entry for entry in entries if entry not in chosen]
        reuploaded = rng.choice(rest[:3]) if rest else None  # among the best-ranked not carried
        for rank, vid, url in sorted(chosen):
            # a day's more plays: ranks move both ways among the carried and today's new videos (drawn before
            # the lookup, so a skipped entry leaves the others' counts as they were)
            growth, like_ratio = rng.uniform(0.6, 1.6), rng.uniform(0.9, 1.1)
            it = _served_as(served, vid, url)
            if it is None:
                continue
            v = _video_from_item(it)
            v.category, v.extra_categories, v.is_ad = cat, [], False
            v.views = int(it.views * growth)
            v.likes = max(1, int(v.views * it.likes / max(1, it.views) * like_ratio))
            used.add(v.id)
            same_ids.add(v.id)
            videos.append(v)
            previous.setdefault(cat, {})[v.id] = rank
        orig = _served_as(served, *reuploaded[1:]) if reuploaded else None
        if orig is None:
            continue
        rank = reuploaded[0]
        copy = _new_video(rng, cat, used, day_epoch, kind=orig.caption_kind, video_key=orig.video_key)
        copy.korean = orig.korean
        copy.desc, copy.tags, copy.text_language = (orig.item["desc"], [c["title"] for c in orig.item["challenges"]],
                                                    orig.item["textLanguage"])
        copy.nickname, copy.unique_id = korean_author(rng) if orig.korean else foreign_author(rng)
        copy.views = max(int(orig.views * rng.uniform(0.8, 1.3)), int(fifth.get(cat, 0) * rng.uniform(1.02, 1.3)))
        copy.likes = max(1, int(copy.views * rng.uniform(0.03, 0.12)))
        copy.is_ad = False
        # on top of any edits the published cover already had (same edit seed: the same edits again, then this)
        edit_seed = rng.getrandbits(32)
        copy.cover = replace(orig.cover, status="ok", edits=orig.cover.edits + rng.choice(HISTORY_REUPLOAD_EDITS),
                             edit_seed=orig.cover.edit_seed if orig.cover.edits else edit_seed)
        copy.reupload_of = orig.id
        videos.append(copy)
        previous.setdefault(cat, {})[copy.id] = rank
    return videos, same_ids, previous


@functools.lru_cache(maxsize=16)
def _generate_day(day: dt.date, seed: int, history: tuple[PublishedChart, ...]) -> DemoDay:
    """:func:`generate_day` once its inputs are read: ``history`` holds the published charts of the days
    before ``day``, yesterday first."""
    _check_day(day)
    rng = random.Random(f"tiktok-top10-demo:{seed}:{day.isoformat()}")
    day_epoch = int(dt.datetime.combine(day, dt.time(0, 0), KST).timestamp())
    used: set[str] = set()
    base: dict[str, list[_Video]] = {}
    for cat in CATEGORIES:
        base[cat] = [_new_video(rng, cat, used, day_epoch) for _ in range(BASE_VIDEOS_PER_CATEGORY)]
        _plant_top(rng, cat, base[cat])

    # the same id listed under a second category (TikTok lists a video wherever it fits)
    for i, cat in enumerate(CATEGORIES):
        other = CATEGORIES[(i + 1) % len(CATEGORIES)]
        top_korean = sorted((v for v in base[cat] if v.korean and v.cover.status == "ok" and not v.is_ad),
                            key=lambda v: -v.views)[:5]
        rest = [v for v in base[cat] if not v.is_ad and v not in top_korean]
        # one from the top, so that the keep-first rule across categories changes a Top-10
        for v in rng.sample(top_korean, 1) + rng.sample(rest, SHARED_PER_CATEGORY - 1):
            v.extra_categories.append(other)

    # planted re-uploads: a top video's cover under other ids, edited; caption of the same language class
    reuploads: list[_Video] = []
    edit_cycle = [(e,) for e in EDITS] + [("crop", "reencode"), ("band", "tone"), ("mirror", "resize"),
                                          ("pad", "reencode")]
    rng.shuffle(edit_cycle)
    n = 0
    for i, cat in enumerate(CATEGORIES):
        eligible = sorted((v for v in base[cat] if v.cover.status == "ok" and not v.is_ad and v.views >= 300_000),
                          key=lambda v: -v.views)
        korean_top = [v for v in eligible if v.korean][:6]
        foreign_top = [v for v in eligible if not v.korean][:4]
        originals = rng.sample(korean_top, 4) + rng.sample(foreign_top, 2) + rng.sample(eligible[6:40], 2)
        for j, orig in enumerate(originals):
            target = cat if j % 2 == 0 else CATEGORIES[(i + 1 + j) % len(CATEGORIES)]
            copy = _new_video(rng, target, used, day_epoch, kind=orig.kind, video_key=orig.video_key)
            copy.korean = orig.korean
            copy.desc, copy.tags, copy.text_language = orig.desc, list(orig.tags), orig.text_language
            copy.views = int(orig.views * rng.uniform(0.3, 0.6))
            copy.likes = int(copy.views * rng.uniform(0.03, 0.12))
            copy.is_ad = False
            copy.cover = replace(orig.cover, status="ok", edits=edit_cycle[n % len(edit_cycle)],
                                 edit_seed=rng.getrandbits(32))
            copy.reupload_of = orig.id
            reuploads.append(copy)
            n += 1

    # yesterday's published videos: their own random stream, so a first day's draws are exactly as before
    previous_day, carried, carried_ids, previous_ranks = None, [], set(), {}
    if history and history[0].day == day - dt.timedelta(days=1):
        previous_day = history[0].day
        yesterday = _generate_day(previous_day, seed, history[1:])
        carry_rngs = {cat: random.Random(f"tiktok-top10-demo-carry:{seed}:{day.isoformat()}:{cat}")
                      for cat in CATEGORIES}
        fifth = {}
        for cat in CATEGORIES:
            eligible = sorted((v.views for v in base[cat]
                               if v.korean and not v.is_ad and v.cover.status in ("ok", "png")), reverse=True)
            fifth[cat] = eligible[4] if len(eligible) > 4 else DEFAULT_MIN_VIEWS
        carried, carried_ids, previous_ranks = _carry_over(carry_rngs, yesterday, history[0], used, day_epoch, fifth)

    videos = [v for cat in CATEGORIES for v in base[cat]] + reuploads + carried
    by_category: dict[str, list[_Video]] = {cat: [] for cat in CATEGORIES}
    for v in videos:
        by_category[v.category].append(v)
        for other in v.extra_categories:
            by_category[other].append(v)
    _separate_counts(videos, by_category, DEFAULT_MIN_VIEWS)

    items: dict[str, list[DemoItem]] = {}
    covers: dict[str, CoverSpec] = {}
    sources: dict[str, list[DemoItem]] = {}
    for cat in CATEGORIES:
        listed = by_category[cat][:]
        rng.shuffle(listed)  # feeds are not sorted by views
        items[cat] = []
        for v in listed:
            items[cat].append(DemoItem(category=cat, item=_item_json(v, day), video_key=v.video_key,
                                       korean=v.korean, cover=v.cover, cover_name=v.cover_name,
                                       caption_kind=v.kind, reupload_of=v.reupload_of,
                                       carried_from=previous_day if v.id in carried_ids else None))
            covers[v.cover_name] = v.cover
        _assign_sources(rng, cat, items[cat], sources)
    return DemoDay(day=day, seed=seed, items=items, covers=covers, sources=sources, previous_day=previous_day,
                   previous_ranks=previous_ranks)


def _plant_top(rng: random.Random, category: str, videos: list[_Video]) -> None:
    """Put the cases that must be filtered among the most viewed: foreign captions (one with #추천), an ad, a
    broken cover, and a PNG cover that must still publish."""
    top = sorted(videos, key=lambda v: -v.views)[:16]
    korean = [v for v in top if v.korean and v.cover.status == "ok"]
    foreign = [v for v in top if not v.korean]
    if len(foreign) < 3:  # make room: recast a few top Korean videos as foreign captions
        for v in korean[-(3 - len(foreign)):]:
            v.kind, v.korean = "foreign_korean_tag", False
            v.desc, v.tags, v.text_language = make_caption("foreign_korean_tag", category, rng)
            v.nickname, v.unique_id = foreign_author(rng)
    korean = [v for v in top if v.korean and v.cover.status == "ok" and not v.is_ad]
    ad, broken, png = rng.sample(korean[:10], 3)
    ad.is_ad = True
    broken.cover = replace(broken.cover, status=BROKEN_STATUSES[CATEGORIES.index(category) % 3])
    png.cover = replace(png.cover, status="png")


def _assign_sources(rng: random.Random, category: str, items: list[DemoItem],
                    sources: dict[str, list[DemoItem]]) -> None:
    """Spread a category's items over its sources: ~45 % only on the first, ~45 % only on the second, ~10 % on
    both; every item is on at least one, each source stays short enough for a few scrolls."""
    paths = [source_path(k, v) for k, v in SOURCE_SPECS[category]]
    for p in paths:
        sources.setdefault(p, [])
    order = items[:]
    rng.shuffle(order)
    n = len(order)
    for idx, it in enumerate(order):
        if len(paths) == 1 or idx < int(n * 0.1):
            chosen = paths
        elif idx < int(n * 0.55):
            chosen = paths[:1]
        else:
            chosen = paths[1:]
        it.sources = tuple(chosen)
    for p in paths:
        listed = [it for it in items if p in it.sources]
        rng.shuffle(listed)
        sources[p].extend(listed)
