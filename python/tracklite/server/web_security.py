"""What a browser may do with the server: no requests forged from other sites, no page of ours
framed or sniffed, and no uploaded file run as a page of the server's origin.

A browser that has signed in to ``tracklite server --auth`` sends the cached credentials with
every request to the server, including requests a page on another site makes it send. So:

* a state-changing request (``POST``, ``PUT``, ``PATCH``, ``DELETE``) from a browser must come
  from the server's own pages: one whose ``Origin`` names another host, or whose
  ``Sec-Fetch-Site`` says another site (``same-site`` included: another port of the same host
  is another site's page), is refused with 403. Clients that are not browsers (MLflow's and
  tracklite's Python clients, ``curl``) send neither header and are not affected;
* the JSON API takes ``application/json`` bodies only: a cross-site HTML form can send
  ``text/plain``, ``application/x-www-form-urlencoded`` and ``multipart/form-data`` without
  asking first, never ``application/json`` (415 otherwise);
* every response says ``nosniff``, is not to be framed and carries a Content Security Policy:
  the UI's pages may run only the server's own scripts; everything else, including every
  artifact, may run nothing (``sandbox``), so an uploaded ``.html`` or ``.svg`` opened in a
  browser is inert. Artifacts of an active type (HTML, SVG, XML, JavaScript, ...) are also
  sent as downloads (``store/artifacts`` content, ``server/artifacts_api.py``).

See ``docs/security.md``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

#: Methods that change state; a browser sends them cross-site only when the page asks.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: The UI's pages: the app's own scripts and styles only (dygraphs' legend sets inline styles).
UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Everything else (JSON, artifacts): nothing may run, and as a page it is its own sandbox.
CONTENT_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class WebSecurity:
    """ASGI middleware applying the module's rules to every HTTP request and response.

    Args:
        app: The application to wrap.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            status, code, message = refusal
            await _send_error(send, status, code, message)
            return
        ui_page = _is_ui_page(scope["path"])

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                headers.extend(_COMMON_HEADERS)
                policy = UI_POLICY if ui_page and _is_html(message) else CONTENT_POLICY
                headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_REPLACED = frozenset({b"x-content-type-options", b"x-frame-options", b"content-security-policy", b"referrer-policy"})


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _refusal(scope: dict[str, Any]) -> tuple[int, str, str] | None:
    """(status, error code, message) if the request must be refused, else None."""
    if scope["method"] not in STATE_CHANGING:
        return None
    host = _header(scope, b"host")
    origin = _header(scope, b"origin")
    if origin is not None and (origin == "null" or host is None or urlsplit(origin).netloc.lower() != host.lower()):
        return (
            403,
            "PERMISSION_DENIED",
            f"Refusing a {scope['method']} request from the page of another site (Origin: {origin}); "
            "the server takes changes only from its own pages and from API clients.",
        )
    site = _header(scope, b"sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return (
            403,
            "PERMISSION_DENIED",
            f"Refusing a {scope['method']} request made by another site's page (Sec-Fetch-Site: {site}).",
        )
    return None


def json_body_refusal(method: str, content_type: str | None, has_body: bool) -> str | None:
    """Why a request to a JSON endpoint is refused (415), or None: a ``POST``, ``PUT`` or
    ``PATCH`` (or a ``DELETE`` with a body) must say ``Content-Type: application/json``.
    The route handler asks, so that an unknown path or method still gets its 404 or 405."""
    if method not in STATE_CHANGING or (method == "DELETE" and not has_body):
        return None
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        return None
    return f"The request body must be JSON sent as Content-Type: application/json (got {kind or 'none'})."


def attachment(name: str) -> str:
    """A ``Content-Disposition`` value that downloads a file as ``name`` (any characters)."""
    from urllib.parse import quote

    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


#: Artifact types a browser shows without running anything: everything else is a download.
INLINE_TYPES = frozenset(
    {"text/plain", "application/json", "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
)


def _is_ui_page(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


def _is_html(message: dict[str, Any]) -> bool:
    for key, value in message.get("headers", []):
        if key.lower() == b"content-type":
            return bool(value.lower().startswith(b"text/html"))
    return False


async def _send_error(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"error_code": code, "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_COMMON_HEADERS,
        (b"content-security-policy", CONTENT_POLICY.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
