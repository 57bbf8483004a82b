"""Errors of the admin API (`/api/...`): always JSON `{"code": ..., "message": ...}`.

Route handlers raise `ApiError(status, code, message)` (or FastAPI's `HTTPException`, whose
status then picks the code). Request validation errors become 422 `invalid_request` with a
message naming each field and what is wrong (`query.type: field required`). Paths outside
`/api/` keep FastAPI's default answers, so the collection API is untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

API_PREFIX = "/api"

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
"""The code an `HTTPException` raised without one gets, by status."""


class ApiError(StarletteHTTPException):
    """An admin API error: HTTP `status`, a stable `code` and a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(status, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.errors = errors
        """Each problem as `{"field", "message"}`, for answers naming several (a 422)."""


class ErrorBody(BaseModel):
    """What every admin API error answers with."""

    code: str
    message: str


class ValidationErrorBody(ErrorBody):
    """A 422 answer: the message names every field in error; `errors` lists them one by one."""

    errors: list[dict[str, str]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "No token, a malformed `Authorization` header, or an unknown or revoked "
        "token (`unauthorized`).",
    },
    403: {"model": ErrorBody, "description": "The token's role may not do this (`forbidden`)."},
    422: {
        "model": ValidationErrorBody,
        "description": "A parameter or the body is invalid (`invalid_request`); the message "
        "names the field, e.g. `query.type: field required`.",
    },
}
"""Responses every admin API route documents (added by the `/api` router)."""


def _is_api(request: Request) -> bool:
    path: str = request.scope.get("path", "")
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> JSONResponse:
    """The JSON answer for an admin API error."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def describe_validation_errors(errors: Any) -> list[dict[str, str]]:
    """Turns pydantic's errors into `{"field": "query.type", "message": "field required"}`."""
    described = []
    for error in errors:
        field = ".".join(str(part) for part in error.get("loc", ())) or "request"
        message = str(error.get("msg", "invalid"))
        described.append({"field": field, "message": message[:1].lower() + message[1:]})
    return described


PageErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
_page_handlers: dict[str, PageErrorHandler] = {}


def answer_errors_as_pages(prefix: str, handler: PageErrorHandler) -> None:
    """Lets the pages under `prefix` (the console) answer their own HTTP and validation
    errors, as pages in the reader's language rather than JSON."""
    _page_handlers[prefix] = handler


def _page_handler(request: Request) -> PageErrorHandler | None:
    path: str = request.scope.get("path", "")
    for prefix, handler in _page_handlers.items():
        if path == prefix or path.startswith(prefix + "/"):
            return handler
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if (page := _page_handler(request)) is not None:
        return await page(request, exc)
    if not _is_api(request):
        return await http_exception_handler(request, exc)
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, exc.message, exc.headers, exc.errors)
    code = STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = (
            f"No such route: {request.method} {request.url.path}. The admin API's routes are "
            "listed at /docs."
        )
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    return error_response(exc.status_code, code, message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if (page := _page_handler(request)) is not None:
        return await page(request, exc)
    if not _is_api(request):
        return await request_validation_exception_handler(request, exc)
    errors = describe_validation_errors(exc.errors())
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return JSONResponse(
        {"code": "invalid_request", "message": message, "errors": errors}, status_code=422
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    if (page := _page_handler(request)) is not None:
        return await page(request, exc)
    if not _is_api(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return error_response(
        500, "internal_error", "Something went wrong on the server; the server log says what."
    )


def install_error_handlers(app: FastAPI) -> None:
    """Makes `/api/...` errors JSON `{"code", "message"}`; other paths keep FastAPI's answers."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
