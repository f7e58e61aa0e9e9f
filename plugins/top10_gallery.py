"""Airflow UI plugin: the Top-10 gallery, served by the Airflow 3 API server.

Operators pick a published day (default: the one ``latest.json`` names), see each category's ten covers with
rank, title, author, views, likes and a link to the video, read the day's manifest as a report, and download a
category's ``top10/`` folder or the whole day as a zip.  The page is server-rendered HTML (no build step, works
inside the UI's iframe).

Why it is shaped like this:
- Airflow mounts ``fastapi_apps`` without any auth, so every route depends on Airflow's own ``get_user``
  (bearer token or the UI's ``_token`` JWT cookie).  A browser without a session is redirected to the auth
  manager's login page; any other client gets 401.
- ``external_views`` with a ``url_route`` puts a "Top-10" entry in the UI navigation that embeds the page.
- Files are reached only through ``tiktok_top10.gallery`` (day/category/name validated, real path inside the
  data root); the data root comes from ``TIKTOK_TOP10_DATA_ROOT`` at request time, as for the DAG's tasks.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from tiktok_top10 import gallery
from tiktok_top10.config import CATEGORIES

URL_PREFIX = "/top10-gallery"
FOLD_OVER = 20  # report lists longer than this start folded


def data_root() -> Path:
    """Read per request: the same environment variable the DAG's tasks use (a shared volume in compose)."""
    from tiktok_top10.config import Settings

    raw = os.environ.get("TIKTOK_TOP10_DATA_ROOT")
    return Path(raw).resolve() if raw else Settings().data_root


def _gallery_errors(exc: Exception) -> HTTPException:
    if isinstance(exc, gallery.UnsafePath):
        return HTTPException(status_code=400, detail=str(exc))
    if isinstance(exc, gallery.NotPublished):
        return HTTPException(status_code=404, detail=str(exc))
    return HTTPException(status_code=500, detail=f"unreadable published data: {exc}")


def create_app() -> FastAPI:
    app = FastAPI(
        title="Top-10 gallery",
        description="Published TikTok Top-10 per category: covers, manifest report, zip downloads.",
        dependencies=[Depends(get_user)],
        # App-level dependencies do not cover FastAPI's own docs routes: serve none.
        docs_url=None, redoc_url=None, openapi_url=None,
    )

    @app.exception_handler(HTTPException)
    async def _unauthenticated_browser_to_login(request: Request, exc: HTTPException) -> Response:
        # A person opening the page without a session should land on the login page, not on a JSON error.
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_html and request.method == "GET":
            return RedirectResponse(_login_url(str(request.url)), status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/", response_class=HTMLResponse)
    def gallery_page(request: Request, day: str | None = None) -> HTMLResponse:
        root = data_root()
        days = gallery.list_published_days(root)
        chosen = day or gallery.latest_day(root)
        base = request.scope.get("root_path", "").rstrip("/")
        if chosen is None:
            return HTMLResponse(_page("Top-10", _empty_state(root)))
        try:
            view = gallery.load_day(root, chosen)
        except Exception as exc:  # noqa: BLE001 - mapped to 400/404/500 with the reason
            raise _gallery_errors(exc)
        return HTMLResponse(_page(f"Top-10 · {view.day}", _render_day(view, days, base)))

    @app.get("/api/days")
    def published_days() -> dict[str, Any]:
        root = data_root()
        return {"days": gallery.list_published_days(root), "latest": gallery.latest_day(root)}

    @app.get("/api/days/{day}")
    def day_json(day: str) -> dict[str, Any]:
        try:
            view = gallery.load_day(data_root(), day)
        except Exception as exc:  # noqa: BLE001
            raise _gallery_errors(exc)
        return {"day": view.day, "manifest": view.manifest, "top10": view.top10}

    @app.get("/files/{day}/{category}/thumbnails/{name}")
    def thumbnail(day: str, category: str, name: str) -> FileResponse:
        return _published_file(day, category, "thumbnails", name)

    @app.get("/files/{day}/{category}/{name}")
    def top10_file(day: str, category: str, name: str) -> FileResponse:
        return _published_file(day, category, name)

    @app.get("/download/{day}.zip")
    def download_day(day: str) -> Response:
        return _zip_response(day, None)

    @app.get("/download/{day}/{category}.zip")
    def download_category(day: str, category: str) -> Response:
        return _zip_response(day, category)

    return app


def _published_file(day: str, category: str, *relative: str) -> FileResponse:
    try:
        path = gallery.resolve_published_file(data_root(), day, category, *relative)
    except Exception as exc:  # noqa: BLE001
        raise _gallery_errors(exc)
    media_type = "application/json" if path.suffix == ".json" else gallery.sniff_content_type(path)
    # Published days are immutable once written, but a rerun may replace them: revalidate daily.
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _zip_response(day: str, category: str | None) -> Response:
    try:
        payload = gallery.build_zip(data_root(), day, category)
    except Exception as exc:  # noqa: BLE001
        raise _gallery_errors(exc)
    name = f"tiktok_top10_{day}" + (f"_{category}" if category else "") + ".zip"
    return Response(
        payload,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _login_url(next_url: str) -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=next_url)
    except Exception:  # noqa: BLE001 - auth manager without a login page: fall back to Airflow's default
        return f"/auth/login?next={quote(next_url, safe='')}"


# --- HTML ----------------------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light dark; --fg:#1a1a1a; --muted:#666; --card:#fff; --bg:#f4f5f7; --accent:#0b6bcb; }
@media (prefers-color-scheme: dark) { :root { --fg:#e8e8e8; --muted:#9aa; --card:#1f2328; --bg:#15181c; } }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; padding: 16px 20px; background: var(--bg); color: var(--fg); }
h1 { font-size: 20px; margin: 0 12px 0 0; }
h2 { font-size: 17px; margin: 22px 0 8px; display: flex; gap: 12px; align-items: center; }
header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #2e7d32; color: #fff; }
.badge.partial { background: #c77700; }
a.button, button { font-size: 13px; padding: 5px 10px; border-radius: 6px; border: 1px solid var(--accent);
  color: var(--accent); background: transparent; text-decoration: none; cursor: pointer; }
.grid { display: grid; grid-template-columns: repeat(10, minmax(96px, 1fr)); gap: 8px; }
.card { background: var(--card); border-radius: 8px; overflow: hidden; font-size: 12px; position: relative;
  box-shadow: 0 1px 2px rgba(0,0,0,.15); }
.card img { width: 100%; aspect-ratio: 9 / 16; object-fit: cover; display: block; background: #333; }
.rank { position: absolute; top: 4px; left: 4px; background: rgba(0,0,0,.75); color: #fff; font-weight: 700;
  border-radius: 4px; padding: 1px 6px; font-size: 13px; }
.meta { padding: 5px 6px 7px; }
.title { font-weight: 600; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; min-height: 2.6em; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; background: var(--card); }
th, td { border: 1px solid rgba(128,128,128,.35); padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
section.report { margin-top: 28px; }
table.kv td:last-child { text-align: left; overflow-wrap: anywhere; max-width: 900px; }
summary { cursor: pointer; margin: 12px 0 4px; }
summary h3 { display: inline; margin: 0; }
ul { font-size: 13px; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='ko'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )


def _empty_state(root: Path) -> str:
    return (
        "<h1>Top-10</h1><p class='muted'>No published day yet under "
        f"<code>{html.escape(str(root))}</code>. The <code>tiktok_top10</code> DAG publishes one per run.</p>"
    )


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value)) if value is not None else ""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}K"
    return f"{value:,}"


def _thumbnail_name(image_file: Any) -> str | None:
    """``imageFile`` is ``thumbnails/<cat>NN.jpg`` or an absolute URL ending in that name."""
    if not isinstance(image_file, str) or not image_file:
        return None
    return image_file.rstrip("/").rsplit("/", 1)[-1]


def _render_day(view: gallery.DayView, days: list[str], base: str) -> str:
    e = html.escape
    status = view.manifest.get("status", "unknown")
    options = "".join(
        f"<option value='{e(d)}'{' selected' if d == view.day else ''}>{e(d)}</option>" for d in days
    )
    parts = [
        "<header>",
        f"<h1>Top-10 · {e(view.day)}</h1>",
        f"<span class='badge {e(str(status))}'>{e(str(status))}</span>",
        f"<form method='get' action='{base}/'><label>Day <select name='day' onchange='this.form.submit()'>"
        f"{options}</select></label> <noscript><button type='submit'>Show</button></noscript></form>",
        f"<a class='button' id='download-day' href='{base}/download/{e(view.day)}.zip' download>"
        "Download day (.zip)</a>",
        "</header>",
    ]
    if not view.top10:
        parts.append("<p class='muted'>No category was published for this day.</p>")
    for category, items in view.top10.items():
        parts.append(
            f"<h2 id='cat-{e(category)}'>{e(category)} <span class='muted'>{len(items)} videos</span>"
            f"<a class='button' href='{base}/download/{e(view.day)}/{e(category)}.zip' download>"
            f"Download {e(category)} (.zip)</a></h2>"
        )
        parts.append(f"<div class='grid' data-category='{e(category)}'>")
        for rank, item in enumerate(items, start=1):
            name = _thumbnail_name(item.get("imageFile"))
            src = f"{base}/files/{e(view.day)}/{e(category)}/thumbnails/{quote(name)}" if name else ""
            title = str(item.get("title") or "(untitled)")
            url = str(item.get("url") or "")
            link = (
                f"<a href='{e(url)}' target='_blank' rel='noopener noreferrer'>video ↗</a>"
                if url.startswith("https://")
                else ""
            )
            parts.append(
                "<div class='card'>"
                f"<span class='rank'>{rank}</span>"
                f"<img loading='lazy' alt='{e(category)} #{rank} cover' src='{src}'>"
                f"<div class='meta'><div class='title' title='{e(title)}'>{e(title)}</div>"
                f"<div class='muted'>@{e(str(item.get('author') or ''))}</div>"
                f"<div>▶ {_number(item.get('views'))} · ♥ {_number(item.get('likes'))}</div>"
                f"<div>{link}</div></div></div>"
            )
        parts.append("</div>")
    parts.append(_render_report(view.manifest))
    return "".join(parts)


def _render_report(manifest: dict[str, Any]) -> str:
    """The manifest as tables: per-category stages as a category × count table, flat stages as key/value."""
    e = html.escape
    if not manifest:
        return "<section class='report'><h2>Report</h2><p class='muted'>No manifest.json for this day.</p></section>"
    parts = ["<section class='report' id='report'><h2>Report</h2>"]
    basics = {k: manifest.get(k) for k in ("day", "status", "source", "categories") if k in manifest}
    parts.append(_kv_table(basics))
    stages = manifest.get("stages") if isinstance(manifest.get("stages"), dict) else {}
    for stage, summary in stages.items():
        parts.append(f"<h3>{e(str(stage))}</h3>")
        parts.append(_stage_table(summary))
    groups = [g for g in manifest.get("dedup_groups") or [] if isinstance(g, dict)]
    removed_count = sum(len(g.get("removed") or []) for g in groups)
    # Long lists stay folded so the counts above remain the first thing an operator reads.
    parts.append(f"<details{' open' if removed_count <= FOLD_OVER else ''}>"
                 f"<summary><h3>Duplicates removed ({removed_count})</h3></summary>")
    if groups:
        parts.append("<ul class='duplicates'>")
        for group in groups:
            if isinstance(group, dict):
                removed = ", ".join(_removed_label(r) for r in group.get("removed") or [])
                parts.append(f"<li>kept <b>{e(str(group.get('kept')))}</b> — removed {removed}</li>")
        parts.append("</ul>")
    parts.append("</details>")
    rejected = [r for r in manifest.get("language_rejected") or [] if isinstance(r, dict)]
    by_language: dict[str, int] = {}
    for row in rejected:
        by_language[str(row.get("language") or "unknown")] = by_language.get(str(row.get("language") or "unknown"), 0) + 1
    breakdown = " · ".join(f"{e(k)} {v}" for k, v in sorted(by_language.items(), key=lambda kv: (-kv[1], kv[0])))
    parts.append(f"<details{' open' if len(rejected) <= FOLD_OVER else ''}>"
                 f"<summary><h3>Not Korean, rejected ({len(rejected)})</h3> <span class='muted'>{breakdown}</span>"
                 "</summary>")
    if rejected:
        parts.append("<table class='rejected'><tr><th>item</th><th>language</th><th>basis</th><th>detector</th></tr>")
        for row in rejected:
            if isinstance(row, dict):
                parts.append(
                    f"<tr><td>{e(str(row.get('key')))}</td><td>{_cell(row.get('language'))}</td>"
                    f"<td>{_cell(row.get('basis'))}</td><td>{_cell(row.get('detector'))}</td></tr>"
                )
        parts.append("</table>")
    parts.append("</details>")
    known = {"day", "status", "source", "categories", "stages", "dedup_groups", "language_rejected"}
    extra = {k: v for k, v in manifest.items() if k not in known}
    if extra:
        parts.append("<h3>Other</h3>" + _kv_table(extra))
    parts.append("</section>")
    return "".join(parts)


def _removed_label(removed: Any) -> str:
    """A removed duplicate: ``"<cat>/<id>"`` or ``{"key", "similarity", "matched_history"}`` (publish.py)."""
    if not isinstance(removed, dict):
        return html.escape(str(removed))
    label = html.escape(str(removed.get("key")))
    similarity = removed.get("similarity")
    if isinstance(similarity, (int, float)):
        label += f" (similarity {similarity:.3f})"
    if removed.get("matched_history"):
        label += " (seen on an earlier day)"
    return label


def _stage_table(summary: Any) -> str:
    e = html.escape
    if not isinstance(summary, dict):
        return f"<p>{e(str(summary))}</p>"
    per_category = {k: v for k, v in summary.items() if k in CATEGORIES and isinstance(v, dict)}
    flat = {k: v for k, v in summary.items() if k not in per_category}
    out = []
    if per_category:
        keys: list[str] = []
        for counts in per_category.values():
            keys += [k for k in counts if k not in keys]
        head = "".join(f"<th>{e(c)}</th>" for c in per_category)
        rows = "".join(
            f"<tr><td>{e(k)}</td>" + "".join(f"<td>{_cell(per_category[c].get(k))}</td>" for c in per_category) + "</tr>"
            for k in keys
        )
        out.append(f"<table><tr><th></th>{head}</tr>{rows}</table>")
    if flat:
        out.append(_kv_table(flat))
    return "".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        import json

        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape("" if value is None else str(value))


def _kv_table(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_cell(v)}</td></tr>" for k, v in values.items())
    return f"<table class='kv'>{rows}</table>"


app = create_app()


class Top10GalleryPlugin(AirflowPlugin):
    """Registers the gallery app on the API server and its entry in the UI navigation."""

    name = "tiktok_top10_gallery"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Top-10 gallery"}]
    external_views = [
        {
            "name": "Top-10",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "top10",
            "nav_top_level": True,  # its own button in the left navigation, not buried under "Plugins"
        }
    ]
