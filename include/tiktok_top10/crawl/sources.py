"""Where each category's videos come from: TikTok discover pages, searches, explore and hashtag pages.

The packaged ``sources.json`` holds the original project's sources; an Airflow Variable can override it as a
JSON object of the same shape (each category given there replaces that category's entry; ``pacing`` keys are
merged).  Everything is validated when loaded, i.e. at DAG parse time, so a typo fails loudly there and not
at midnight inside a browser.

Pacing is the number of page loads ("reloads") and wheel scrolls per load.  The live site needs the original's
5 x 15 because each reload deals a different hand of videos; the demo site is deterministic, so one load
scrolled to its end is enough.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from ..config import CATEGORIES, SOURCES

SOURCE_KINDS = ("discover", "search", "explore", "tags")
_CATEGORY_KEYS = set(SOURCE_KINDS) | {"pacing"}
_MAX_RELOADS, _MAX_SCROLLS = 50, 200


@dataclass(frozen=True)
class Pacing:
    reloads: int
    scrolls: int


@dataclass(frozen=True)
class SourceSpec:
    """One category's sources, as paths relative to the site (the same paths on TikTok and the demo)."""

    category: str
    discover: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    explore: bool = False
    tags: tuple[str, ...] = ()
    pacing: tuple[tuple[str, Pacing], ...] = ()

    def paths(self) -> list[str]:
        out = [f"/discover/{quote(slug, safe='-')}" for slug in self.discover]
        out += [f"/search?q={quote(query, safe='')}" for query in self.search]
        if self.explore:
            out.append("/explore")
        out += [f"/tag/{quote(tag, safe='')}" for tag in self.tags]
        return out

    def pacing_for(self, source: str) -> Pacing:
        """Reloads x scrolls for ``source`` ("tiktok" or "demo")."""
        return dict(self.pacing)[source]


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
    for source, spec in value.items():
        if source not in SOURCES:
            _fail(where, f"unknown source {source!r} (expected one of {list(SOURCES)})")
        if not isinstance(spec, dict) or set(spec) - {"reloads", "scrolls"}:
            _fail(f"{where}.{source}", f"must be {{'reloads': int, 'scrolls': int}}, got {spec!r}")
        merged = {"reloads": out[source].reloads, "scrolls": out[source].scrolls} if source in out else {}
        merged.update(spec)
        for key, cap in (("reloads", _MAX_RELOADS), ("scrolls", _MAX_SCROLLS)):
            v = merged.get(key)
            # bool is an int subclass; "reloads": true is a typo, not 1
            if isinstance(v, bool) or not isinstance(v, int) or not (1 if key == "reloads" else 0) <= v <= cap:
                _fail(f"{where}.{source}.{key}", f"must be an integer in [{int(key == 'reloads')}, {cap}], got {v!r}")
        out[source] = Pacing(merged["reloads"], merged["scrolls"])
    return out


def _category(name: str, entry: Any, pacing: dict[str, Pacing]) -> SourceSpec:
    where = f"categories.{name}"
    if name not in CATEGORIES:
        _fail(where, f"unknown category (expected one of {list(CATEGORIES)})")
    if not isinstance(entry, dict):
        _fail(where, f"must be an object, got {entry!r}")
    unknown = set(entry) - _CATEGORY_KEYS
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)} (allowed: {sorted(_CATEGORY_KEYS)})")
    explore = entry.get("explore", False)
    if not isinstance(explore, bool):
        _fail(f"{where}.explore", f"must be true or false, got {explore!r}")
    spec = SourceSpec(
        category=name,
        discover=_str_list(entry.get("discover", []), f"{where}.discover"),
        search=_str_list(entry.get("search", []), f"{where}.search"),
        explore=explore,
        tags=tuple(t.lstrip("#") for t in _str_list(entry.get("tags", []), f"{where}.tags")),
        pacing=tuple(sorted(_pacing(entry.get("pacing", {}), f"{where}.pacing", pacing).items())),
    )
    if not spec.paths():
        _fail(where, "has no sources (give at least one of discover, search, explore, tags)")
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
                source: {**base["pacing"].get(source, {}), **spec} if isinstance(spec, dict) else spec
                for source, spec in {**base["pacing"], **pacing_override}.items()
            },
            "categories": {**base["categories"], **override.get("categories", {})},
        }
    pacing = _pacing(base.get("pacing", {}), "pacing", {})
    missing = [s for s in SOURCES if s not in pacing]
    if missing:
        _fail("pacing", f"missing pacing for {missing}")
    return {name: _category(name, entry, pacing) for name, entry in base["categories"].items()}
