"""Where each category's videos come from, and which of those sources work without a TikTok login.

Each category lists its sources (a discover page, a search, ``/explore``, a hashtag page ``/tag/<name>``), each
marked ``requires_login`` from public evidence (../shared/DESIGN.md): explore, hashtag and discover pages serve
logged-out visitors (discover pages their first screen as server-rendered data), while search is often gated
for them (a login prompt or empty results).  Without a session a crawl skips the login-only sources and counts
why; the configuration is refused at load time (i.e. at DAG parse time, not at midnight inside a browser) unless
every category keeps at least one source that works logged out on every site it is crawled on.

A source may be limited to some sites (``"sites": ["tiktok"]``): the demo stand-in models the pages the demo
day is built from, not every live hashtag.

The packaged ``sources.json`` is the default; an Airflow Variable (``tiktok_top10_sources``) may override it
with a JSON object of the same shape (each category given there replaces that category's entry; ``pacing``
keys are merged).  The shape of earlier releases (``{"discover": [...], "search": [...], "explore": true,
"tags": [...]}`` per category) is still read: its searches count as login-only, everything else as working
logged out, and a category left without a logged-out source is refused with a message saying what to add.

Pacing is the number of page loads ("reloads") and wheel scrolls per load.  The live site needs the original's
5 x 15 because each reload deals a different hand of videos; the demo site is deterministic, so one load
scrolled to its end is enough.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from ..config import CATEGORIES, SOURCES

log = logging.getLogger(__name__)

SOURCE_KINDS = ("discover", "search", "explore", "tag")
# The shape of earlier releases: one list per kind.  ``tags`` was the plural of ``tag``.
_OLD_SHAPE_KEYS = {"discover": "discover", "search": "search", "explore": "explore", "tags": "tag"}
_CATEGORY_KEYS = {"sources", "pacing"}
_SOURCE_KEYS = {"kind", "value", "requires_login", "sites", "evidence"}
_MAX_RELOADS, _MAX_SCROLLS = 50, 200

SKIP_LOGIN_REQUIRED = "login_required"  # the reason counted when a login-only source is skipped logged out


@dataclass(frozen=True)
class Pacing:
    reloads: int
    scrolls: int


@dataclass(frozen=True)
class Source:
    """One page a category is crawled from; ``path`` is the same on TikTok and the demo."""

    kind: str
    value: str = ""  # the slug, the query, the hashtag without '#'; "" for explore
    requires_login: bool = False
    sites: tuple[str, ...] = SOURCES
    evidence: str = ""  # why this source and why its requires_login (kept with the config, not in code)

    @property
    def path(self) -> str:
        if self.kind == "discover":
            return f"/discover/{quote(self.value, safe='-')}"
        if self.kind == "search":
            return f"/search?q={quote(self.value, safe='')}"
        if self.kind == "tag":
            return f"/tag/{quote(self.value, safe='')}"
        return "/explore"


@dataclass(frozen=True)
class SourcePlan:
    """What one crawl of a category will load, given the site and whether the browser is logged in."""

    category: str
    site: str
    logged_in: bool
    crawl: tuple[Source, ...]
    skipped: tuple[tuple[Source, str], ...] = ()  # (source, reason)

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.crawl]


@dataclass(frozen=True)
class SourceSpec:
    """One category's sources and its pacing per site."""

    category: str
    sources: tuple[Source, ...] = ()
    pacing: tuple[tuple[str, Pacing], ...] = ()

    def for_site(self, site: str) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if site in s.sites)

    def paths(self, site: str | None = None) -> list[str]:
        """Every source's path (on ``site`` only, when given), logged in or not."""
        return [s.path for s in (self.for_site(site) if site else self.sources)]

    def plan(self, site: str, *, logged_in: bool) -> SourcePlan:
        """The sources to crawl on ``site``; logged out, the login-only ones are skipped with a reason."""
        crawl, skipped = [], []
        for source in self.for_site(site):
            if source.requires_login and not logged_in:
                skipped.append((source, SKIP_LOGIN_REQUIRED))
            else:
                crawl.append(source)
        return SourcePlan(self.category, site, logged_in, tuple(crawl), tuple(skipped))

    def pacing_for(self, site: str) -> Pacing:
        """Reloads x scrolls for ``site`` ("tiktok" or "demo")."""
        return dict(self.pacing)[site]


def _fail(where: str, message: str) -> None:
    raise ValueError(f"crawl sources: {where}: {message}")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        _fail(where, f"must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _pacing(value: Any, where: str, base: dict[str, Pacing]) -> dict[str, Pacing]:
    if not isinstance(value, dict):
        _fail(where, f"must be an object keyed by {list(SOURCES)}, got {value!r}")
    out = dict(base)
    for site, spec in value.items():
        if site not in SOURCES:
            _fail(where, f"unknown source {site!r} (expected one of {list(SOURCES)})")
        if not isinstance(spec, dict) or set(spec) - {"reloads", "scrolls"}:
            _fail(f"{where}.{site}", f"must be {{'reloads': int, 'scrolls': int}}, got {spec!r}")
        merged = {"reloads": out[site].reloads, "scrolls": out[site].scrolls} if site in out else {}
        merged.update(spec)
        for key, cap in (("reloads", _MAX_RELOADS), ("scrolls", _MAX_SCROLLS)):
            v = merged.get(key)
            # bool is an int subclass; "reloads": true is a typo, not 1
            if isinstance(v, bool) or not isinstance(v, int) or not (1 if key == "reloads" else 0) <= v <= cap:
                _fail(f"{where}.{site}.{key}", f"must be an integer in [{int(key == 'reloads')}, {cap}], got {v!r}")
        out[site] = Pacing(merged["reloads"], merged["scrolls"])
    return out


def _source(entry: Any, where: str) -> Source:
    if not isinstance(entry, dict):
        _fail(where, f"must be an object like {{'kind': 'tag', 'value': '먹방', 'requires_login': false}}, "
                     f"got {entry!r}")
    unknown = set(entry) - _SOURCE_KEYS
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)} (allowed: {sorted(_SOURCE_KEYS)})")
    kind = entry.get("kind")
    if kind not in SOURCE_KINDS:
        _fail(f"{where}.kind", f"must be one of {list(SOURCE_KINDS)}, got {kind!r}")
    value = entry.get("value", "")
    if not isinstance(value, str) or (kind != "explore" and not value.strip()):
        _fail(f"{where}.value", f"a {kind} source needs a non-empty string value, got {value!r}")
    if "requires_login" not in entry or not isinstance(entry["requires_login"], bool):
        _fail(f"{where}.requires_login", f"must be true or false (say whether the page works logged out), "
                                         f"got {entry.get('requires_login')!r}")
    sites = _str_list(entry.get("sites", list(SOURCES)), f"{where}.sites")
    if set(sites) - set(SOURCES) or not sites:
        _fail(f"{where}.sites", f"must be a non-empty subset of {list(SOURCES)}, got {list(sites)}")
    evidence = entry.get("evidence", "")
    if not isinstance(evidence, str):
        _fail(f"{where}.evidence", f"must be a string, got {evidence!r}")
    value = value.strip().lstrip("#") if kind == "tag" else value.strip()
    return Source(kind, "" if kind == "explore" else value, entry["requires_login"], sites, evidence)


def _old_shape_sources(entry: dict, where: str) -> list[Source]:
    """Earlier releases' ``{"discover": [...], "search": [...], "explore": true, "tags": [...]}``."""
    out: list[Source] = []
    for key in ("discover", "search", "explore", "tags"):
        if key not in entry:
            continue
        if key == "explore":
            if not isinstance(entry[key], bool):
                _fail(f"{where}.explore", f"must be true or false, got {entry[key]!r}")
            if entry[key]:
                out.append(Source("explore"))
            continue
        for value in _str_list(entry[key], f"{where}.{key}"):
            kind = _OLD_SHAPE_KEYS[key]
            out.append(Source(kind, value.lstrip("#") if kind == "tag" else value, requires_login=kind == "search"))
    return out


def _category(name: str, entry: Any, pacing: dict[str, Pacing]) -> SourceSpec:
    where = f"categories.{name}"
    if name not in CATEGORIES:
        _fail(where, f"unknown category (expected one of {list(CATEGORIES)})")
    if not isinstance(entry, dict):
        _fail(where, f"must be an object, got {entry!r}")
    old_keys = set(entry) & set(_OLD_SHAPE_KEYS)
    unknown = set(entry) - _CATEGORY_KEYS - set(_OLD_SHAPE_KEYS)
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)} (allowed: {sorted(_CATEGORY_KEYS)})")
    if old_keys and "sources" in entry:
        _fail(where, f"mixes the old keys {sorted(old_keys)} with 'sources': move them into 'sources' as "
                     f"{{'kind': ..., 'value': ..., 'requires_login': ...}} objects")
    if old_keys:
        sources = _old_shape_sources(entry, where)
        log.warning("%s uses the old sources shape %s: its searches are taken as login-only; write "
                    "'sources': [{'kind', 'value', 'requires_login'}, ...] to choose", where, sorted(old_keys))
    else:
        listed = entry.get("sources", [])
        if not isinstance(listed, list):
            _fail(f"{where}.sources", f"must be a list of source objects, got {listed!r}")
        sources = [_source(s, f"{where}.sources[{i}]") for i, s in enumerate(listed)]
    if not sources:
        _fail(where, "has no sources (give at least one of discover, search, explore, tag)")
    seen: set[tuple[str, str]] = set()
    for source in sources:
        for site in source.sites:
            if (site, source.path) in seen:
                _fail(where, f"lists {source.path} twice for site {site!r}")
            seen.add((site, source.path))
    spec = SourceSpec(
        category=name,
        sources=tuple(sources),
        pacing=tuple(sorted(_pacing(entry.get("pacing", {}), f"{where}.pacing", pacing).items())),
    )
    for site in SOURCES:
        on_site = spec.for_site(site)
        if on_site and all(s.requires_login for s in on_site):
            _fail(where, f"no source works logged out on {site!r} ({', '.join(s.path for s in on_site)} all "
                         "require a login): add a tag, discover or explore source with \"requires_login\": false, "
                         "or set \"requires_login\": false on a search you have seen work without a session")
    if not spec.for_site("tiktok") and not spec.for_site("demo"):
        _fail(where, "has no sources for any site")
    return spec


def packaged_sources() -> dict[str, Any]:
    text = resources.files("tiktok_top10.crawl").joinpath("sources.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_sources(override_json: str | None = None) -> dict[str, SourceSpec]:
    """Validated sources per category: the packaged file, with ``override_json`` (an Airflow Variable) on top.

    Raises ``ValueError`` naming the offending key when either is invalid.
    """
    base = packaged_sources()
    if override_json is not None and override_json.strip():
        try:
            override = json.loads(override_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"crawl sources override is not valid JSON: {exc}") from None
        if not isinstance(override, dict) or set(override) - {"pacing", "categories"}:
            raise ValueError("crawl sources override must be an object with keys 'pacing' and/or 'categories'")
        if not isinstance(override.get("categories", {}), dict):
            _fail("categories", "must be an object keyed by category")
        pacing_override = override.get("pacing", {})
        if not isinstance(pacing_override, dict):
            _fail("pacing", f"must be an object keyed by {list(SOURCES)}, got {pacing_override!r}")
        base = {
            "pacing": {
                site: {**base["pacing"].get(site, {}), **spec} if isinstance(spec, dict) else spec
                for site, spec in {**base["pacing"], **pacing_override}.items()
            },
            "categories": {**base["categories"], **override.get("categories", {})},
        }
    pacing = _pacing(base.get("pacing", {}), "pacing", {})
    missing = [s for s in SOURCES if s not in pacing]
    if missing:
        _fail("pacing", f"missing pacing for {missing}")
    return {name: _category(name, entry, pacing) for name, entry in base["categories"].items()}


def source_records(plan: SourcePlan | None, crawled: list[Any]) -> list[dict]:
    """The summary's per-source record: what was configured, whether it was crawled or skipped and why, and the
    browser's own counters for it (loads, items, gate met, status codes: whatever its stats object carries).

    ``crawled`` holds the browser's per-URL stats objects (dataclasses with a ``url``), in crawl order."""
    by_path: dict[str, dict] = {}
    for stats in crawled:
        counters = asdict(stats) if hasattr(stats, "__dataclass_fields__") else dict(stats)
        url = counters.pop("url", "")
        by_path[_path_of(url)] = counters
    if plan is None:  # explicit URLs (``top10 crawl --url``): no configuration to report against
        return [{"path": path, "crawled": True, "skipped": None, **counters} for path, counters in by_path.items()]
    records = []
    for source in plan.crawl:
        counters = by_path.get(source.path, {})
        records.append({"path": source.path, "kind": source.kind, "value": source.value,
                        "requires_login": source.requires_login, "crawled": bool(counters), "skipped": None,
                        **counters})
    for source, reason in plan.skipped:
        records.append({"path": source.path, "kind": source.kind, "value": source.value,
                        "requires_login": source.requires_login, "crawled": False, "skipped": reason})
    return records


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")

