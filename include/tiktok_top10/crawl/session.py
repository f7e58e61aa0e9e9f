"""The crawler's TikTok session and network route: login cookies from the ``tiktok_default`` connection, and the
proxy the browser goes out through.

Login cookies (``sessionid``, ``sid_tt``, ...) exported from a logged-in browser are added to the persistent
profile only where the profile lacks them: TikTok rotates its own cookies (``msToken`` on every few requests,
``sid_guard`` on refresh), and overwriting a fresh value with the connection's older copy would log the
profile out or mark it as replayed.  "Logged in" means a session cookie is present, in the connection or in
the profile.

A proxy goes to Playwright as ``server`` + ``username`` + ``password``: credentials written inside ``server``
(``http://user:pass@host:port``) make Chromium fail with ``ERR_INVALID_AUTH_CREDENTIALS`` (shared/DESIGN.md), so
such a URL is split here.  Neither cookie values nor the proxy password are ever logged.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

TIKTOK_COOKIE_DOMAIN = ".tiktok.com"
# Any of these present means the browser is logged in (TikTok's web login sets them together).
SESSION_COOKIE_NAMES = frozenset({"sessionid", "sessionid_ss", "sid_tt"})
_PLAYWRIGHT_COOKIE_KEYS = {"name", "value", "url", "domain", "path", "expires", "httpOnly", "secure", "sameSite"}
_SAME_SITE = {"no_restriction": "None", "none": "None", "lax": "Lax", "strict": "Strict", "unspecified": "Lax"}


def has_session(cookies: list[dict] | None) -> bool:
    """Whether ``cookies`` hold a non-empty session cookie."""
    return any(c.get("name") in SESSION_COOKIE_NAMES and c.get("value") for c in cookies or [])


def _cookie(raw: dict, default_domain: str) -> dict:
    """A browser-export cookie (Cookie-Editor / EditThisCookie JSON, or Playwright's own) as a Playwright cookie."""
    if not isinstance(raw, dict) or not raw.get("name") or "value" not in raw:
        got = sorted(raw) if isinstance(raw, dict) else raw
        raise ValueError(f"a cookie needs 'name' and 'value' (got {got!r})")
    cookie = {k: v for k, v in raw.items() if k in _PLAYWRIGHT_COOKIE_KEYS}
    cookie["value"] = str(cookie["value"])
    if "expirationDate" in raw and "expires" not in cookie:  # the browser extensions' name for it
        cookie["expires"] = float(raw["expirationDate"])
    if isinstance(cookie.get("sameSite"), str):
        cookie["sameSite"] = _SAME_SITE.get(cookie["sameSite"].lower(), cookie["sameSite"])
        if cookie["sameSite"] not in {"None", "Lax", "Strict"}:
            del cookie["sameSite"]
    if "url" not in cookie and "domain" not in cookie:
        cookie["domain"] = default_domain
    if "domain" in cookie:
        cookie.setdefault("path", "/")
    if cookie.get("sameSite") == "None":
        cookie["secure"] = True  # Chromium refuses SameSite=None without Secure
    return cookie


def _parse_cookie_text(text: str, default_domain: str, *, bare_is: str | None) -> list[dict]:
    """JSON (a list of cookies, or ``{"cookies": [...]}``), a ``Cookie:`` header (``a=1; b=2``), or a bare value
    (taken as the cookie ``bare_is``: the connection's password was an ``msToken`` in earlier releases)."""
    text = text.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"cookies look like JSON but do not parse: {exc.msg} at {exc.pos}") from None
        return cookies_from_value(data, default_domain)
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:"):]
    if "=" not in text:
        if bare_is is None:
            raise ValueError("cookies must be JSON or 'name=value; name2=value2'")
        return [_cookie({"name": bare_is, "value": text}, default_domain)]
    out = []
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip():
            out.append(_cookie({"name": name.strip(), "value": value.strip()}, default_domain))
    return out


def cookies_from_value(value: Any, default_domain: str = TIKTOK_COOKIE_DOMAIN) -> list[dict]:
    """Cookies from a JSON value: a list of cookie objects, ``{"cookies": ...}``, or a header string."""
    if value is None:
        return []
    if isinstance(value, str):
        return _parse_cookie_text(value, default_domain, bare_is=None)
    if isinstance(value, dict):
        return cookies_from_value(value.get("cookies"), default_domain)
    if isinstance(value, list):
        return [_cookie(c, default_domain) for c in value]
    raise ValueError("cookies must be a list, an object with 'cookies', or a header string, "
                     f"got {type(value).__name__}")


def cookies_from_connection(password: str | None, extra: dict | str | None,
                            default_domain: str = TIKTOK_COOKIE_DOMAIN) -> list[dict]:
    """The login cookies an Airflow connection carries, as Playwright cookies.

    ``password``: a browser export (JSON list), a ``Cookie`` header (``sessionid=...; sid_tt=...``), or a bare
    ``msToken`` value (the earlier releases' form).  ``extra``: ``{"cookies": <the same forms>}`` (a dict or its
    JSON text).  Later entries of the same name and domain win.
    """
    found: list[dict] = []
    if isinstance(extra, str) and extra.strip():
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ValueError(f"connection extra is not JSON: {exc.msg}") from None
    if isinstance(extra, dict) and extra.get("cookies") is not None:
        found += cookies_from_value(extra["cookies"], default_domain)
    if password:
        found += _parse_cookie_text(password, default_domain, bare_is="msToken")
    unique: dict[tuple, dict] = {}
    for cookie in found:
        unique[_cookie_key(cookie)] = cookie
    return list(unique.values())


def _cookie_key(cookie: dict) -> tuple[str, str, str]:
    domain = cookie.get("domain") or urlsplit(cookie.get("url", "")).hostname or ""
    return cookie["name"], domain.lstrip(".").lower(), cookie.get("path") or "/"


def missing_cookies(profile: list[dict], incoming: list[dict]) -> list[dict]:
    """The ``incoming`` cookies the profile does not hold yet (same name on the same domain and path).

    The profile's own copy wins: a fresh ``msToken`` or a refreshed session is never overwritten by the
    connection's older export.  Expired cookies are not in ``profile`` (the browser drops them), so an
    expired profile copy is replaced."""
    now = time.time()
    held = {_cookie_key(c) for c in profile if not (0 < (c.get("expires") or -1) < now)}
    return [c for c in incoming if _cookie_key(c) not in held]


def profile_has_session(profile_dir: Path, domain: str = "tiktok.com") -> bool:
    """Whether a Chromium profile holds an unexpired session cookie for ``domain``, read without a browser.

    Names, hosts and expiry are stored in clear in the profile's cookie database (only values are encrypted).
    The database is copied first: a running Chromium holds it locked."""
    for db in (Path(profile_dir) / "Default" / "Network" / "Cookies", Path(profile_dir) / "Default" / "Cookies"):
        if not db.is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "Cookies"
            shutil.copyfile(db, copy)
            try:
                with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as conn:
                    rows = conn.execute("SELECT name, host_key, expires_utc, has_expires FROM cookies").fetchall()
            except sqlite3.DatabaseError:
                return False
        # Chromium's expiry: microseconds since 1601-01-01
        now_chromium = int((time.time() + 11_644_473_600) * 1_000_000)
        domain = domain.lstrip(".")
        for name, host, expires, has_expires in rows:
            if (name in SESSION_COOKIE_NAMES and (host.lstrip(".") == domain or host.endswith("." + domain))
                    and (not has_expires or expires > now_chromium)):
                return True
    return False


@dataclass(frozen=True)
class ProxySettings:
    """A proxy for Playwright; the password never appears in ``repr`` (settings get logged)."""

    server: str
    username: str = ""
    password: str = field(default="", repr=False)

    def for_playwright(self) -> dict:
        proxy = {"server": self.server}
        if self.username:
            proxy["username"] = self.username
            proxy["password"] = self.password
        return proxy


def proxy_settings(server: str, username: str = "", password: str = "") -> ProxySettings | None:
    """A validated proxy, or None when ``server`` is empty.  Credentials inside ``server`` are moved to
    ``username``/``password`` (Chromium fails them there) unless those are given separately too."""
    server = (server or "").strip()
    if not server:
        return None
    if "://" not in server:
        server = "http://" + server
    parts = urlsplit(server)
    if parts.scheme not in {"http", "https", "socks5"} or not parts.hostname:
        raise ValueError(f"proxy server must look like http://host:port (or https://, socks5://), got scheme "
                         f"{parts.scheme!r} host {parts.hostname!r}")
    if parts.username is not None:
        if username or password:
            raise ValueError("proxy credentials given twice: inside the server URL and as proxy_username/"
                             "proxy_password; keep them in proxy_username/proxy_password only")
        username, password = unquote(parts.username), unquote(parts.password or "")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        server = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    if parts.scheme == "socks5" and username:
        raise ValueError("Chromium does not support socks5 proxies with a username/password; use an http proxy")
    return ProxySettings(server.rstrip("/"), username or "", password or "")
