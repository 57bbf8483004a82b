"""Pages from Jinja2 templates, in the reader's language.

One Jinja environment per language, each with its gettext catalog installed: templates are
compiled once per language and no request changes another's language (installing a catalog
per request on one shared environment would race between threads).
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from omnicx.console import i18n
from omnicx.console.masking import mask

NAV: tuple[tuple[str, str, str], ...] = (
    ("overview", "/console/overview", "overview.read"),
    ("customers", "/console/customers", "profiles.read"),
    ("journeys", "/console/journeys", "analytics.read"),
    ("audiences", "/console/audiences", "audiences.read"),
    ("sources", "/console/sources", "sources.read"),
    ("admin", "/console/admin", "users.manage"),
)
"""The console's sections: (key, path, the permission needed to see it). base.html names
them; a section a reader may not open is not shown (and refused by the server anyway)."""

SECURITY_HEADERS = {
    # Scripts only from our own static files; styles may be inline (ECharts and htmx set them).
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Headers of every console page: no framing, no foreign scripts, nothing cached (pages show
personal data)."""


def _json_script(value: Any) -> Markup:
    """`value` as JSON safe inside `<script type="application/json">` (no `</script>`)."""
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    escaped = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(escaped)  # noqa: S704 (JSON with <, > and & escaped: inert in a script tag)


@cache
def environment(language: str) -> Environment:
    """The template environment of `language`, with its catalog and formatters."""
    env = Environment(
        loader=PackageLoader("omnicx.console", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    formatter = i18n.Formatter(language)
    env.filters.update(
        number=formatter.number,
        percent=formatter.percent,
        money=formatter.money,
        datetime=formatter.datetime,
        date=formatter.date,
        duration=formatter.duration,
        json_script=_json_script,
        mask=mask,
        # A domain's message (omnicx.wording) in the page's language, and a value the user
        # typed set apart from a right-to-left sentence (i18n.say, i18n.isolate).
        say=partial(i18n.say, language=language),
        isolated=partial(i18n.isolate, language=language),
    )
    env.globals.update(
        LANGUAGES=i18n.LANGUAGES,
        language=i18n.LANGUAGES[language],
        NAV=NAV,
        fmt=formatter,
    )
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Renders `template` for the request's reader: their language, their session (the
    CSRF token forms carry, the sections they may open)."""
    language: str = getattr(request.state, "language", i18n.DEFAULT_LANGUAGE)
    session = getattr(request.state, "console_session", None)
    values: dict[str, Any] = {
        "request": request,
        "session": session,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else getattr(request.state, "csrf", ""),
        "may": getattr(request.state, "may", frozenset()),
        "htmx": request.headers.get("hx-request") == "true",
    }
    values.update(context or {})
    body = environment(language).get_template(template).render(values)
    return HTMLResponse(
        body, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
