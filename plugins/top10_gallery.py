"""Airflow UI plugin: the Top-10 gallery, served by the Airflow 3 API server.

Operators pick a published day (default: the one ``latest.json`` names), see each category's ten covers with
rank, title, author, views, likes, the movement since the previous day (▲/▼/NEW) and a link to the video, read
the day's manifest as a report, and download a category's ``top10/`` folder or the whole day as a zip.  A
category's day-over-day page (``/compare/{day}/{category}``) puts its chart beside the previous published day's;
the search box "Why (not) in the Top-10?" (``/explain``, JSON at ``/api/explain``) shows what
``top10 explain VIDEO --day DAY`` answers, from the same function.  The pages are server-rendered HTML (no build
step, works inside the UI's iframe).

Why it is shaped like this:
- Airflow mounts ``fastapi_apps`` without any auth, so every route depends on Airflow's own ``get_user``
  (bearer token or the UI's ``_token`` JWT cookie).  A browser without a session is redirected to the auth
  manager's login page; any other client gets 401.
- ``external_views`` with a ``url_route`` puts a "Top-10" entry in the UI navigation that embeds the page.
- Files are reached only through ``tiktok_top10.gallery`` (day/category/name validated, real path inside the
  data root); the data root comes from ``Settings.from_env()`` at request time, as for the DAG's tasks.
- The HTML is Jinja2 templates with autoescape (``tiktok_top10/templates/gallery/``), rendered by
  ``tiktok_top10.gallery``: every caption, nickname and manifest value is escaped by the template engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from tiktok_top10 import gallery

URL_PREFIX = "/top10-gallery"


def data_root() -> Path:
    """Read per request, from the same Settings (``TIKTOK_TOP10_DATA_ROOT``) the DAG's tasks use (a shared
    volume in compose)."""
    return settings().data_root


def settings():
    from tiktok_top10.config import Settings

    return Settings.from_env()


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
            return HTMLResponse(gallery.render_empty_page(root))
        try:
            view = gallery.load_day(root, chosen)
        except Exception as exc:  # noqa: BLE001 - mapped to 400/404/500 with the reason
            raise _gallery_errors(exc) from exc
        return HTMLResponse(gallery.render_day_page(view, days, base))

    @app.get("/explain", response_class=HTMLResponse)
    def explain_page(request: Request, video: str = "", day: str | None = None) -> HTMLResponse:
        current = settings()
        days = gallery.list_published_days(current.data_root)
        chosen = day or gallery.latest_day(current.data_root)
        base = request.scope.get("root_path", "").rstrip("/")
        if not video.strip():
            return HTMLResponse(gallery.render_explain_page(base, days, "", chosen, None))
        if chosen is None:
            error = "no day given and no published day to default to"
            return HTMLResponse(gallery.render_explain_page(base, days, video, None, None, error), status_code=400)
        try:
            answer = gallery.explain_answer(current, video, chosen)
        except gallery.UnsafePath as exc:  # the CLI's exit status 2: bad arguments, said on the page
            return HTMLResponse(gallery.render_explain_page(base, days, video, chosen, None, str(exc)),
                                status_code=400)
        return HTMLResponse(gallery.render_explain_page(base, days, video, chosen, answer))

    @app.get("/api/explain")
    def explain_json(video: str, day: str | None = None) -> dict[str, Any]:
        """``top10 explain VIDEO --day DAY --json``'s answer plus its ``exit_code`` and ``text``; 400 where the
        CLI exits 2.  "Not seen that day" (exit 1) is an answer, so still 200."""
        current = settings()
        chosen = day or gallery.latest_day(current.data_root)
        if chosen is None:
            raise HTTPException(status_code=400, detail="no day given and no published day to default to")
        try:
            answer = gallery.explain_answer(current, video, chosen)
        except Exception as exc:  # noqa: BLE001 - mapped to 400/404/500 with the reason
            raise _gallery_errors(exc) from exc
        return {**answer.json, "text": answer.text}

    @app.get("/compare/{day}/{category}", response_class=HTMLResponse)
    def compare_page(request: Request, day: str, category: str) -> HTMLResponse:
        try:
            view = gallery.compare_category(data_root(), day, category)
        except Exception as exc:  # noqa: BLE001
            raise _gallery_errors(exc) from exc
        return HTMLResponse(gallery.render_compare_page(view, request.scope.get("root_path", "").rstrip("/")))

    @app.get("/api/days")
    def published_days() -> dict[str, Any]:
        root = data_root()
        return {"days": gallery.list_published_days(root), "latest": gallery.latest_day(root)}

    @app.get("/api/days/{day}")
    def day_json(day: str) -> dict[str, Any]:
        try:
            view = gallery.load_day(data_root(), day)
        except Exception as exc:  # noqa: BLE001
            raise _gallery_errors(exc) from exc
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
        raise _gallery_errors(exc) from exc
    media_type = "application/json" if path.suffix == ".json" else gallery.sniff_content_type(path)
    # Published days are immutable once written, but a rerun may replace them: revalidate daily.
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _zip_response(day: str, category: str | None) -> Response:
    try:
        payload = gallery.build_zip(data_root(), day, category)
    except Exception as exc:  # noqa: BLE001
        raise _gallery_errors(exc) from exc
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
