"""Errors of the embedded Model Registry and how they are answered: ``{"code": <HTTP status text>, "message": ...}``.

Handlers raise :class:`ApiError` (made by :func:`bad_request`, :func:`not_found`, :func:`conflict`); the
exception handlers of :data:`EXCEPTION_HANDLERS` turn it, Starlette's own HTTP errors (unknown endpoint, wrong
method) and unexpected exceptions into the body the real server sends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kfp_model_lifecycle.local.registry.conventions import BASE_PATH

logger = logging.getLogger("kfp_model_lifecycle.local.registry")


class RegistryDatabaseError(ValueError):
    """The registry database cannot be used: the path is a directory, not a SQLite file, or cannot be opened."""


class ApiError(Exception):
    """An error answered to the client as ``{"code": <status text>, "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    """400 Bad Request."""
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    """404 Not Found."""
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    """409 Conflict."""
    return ApiError(409, message)


def payload_too_large(limit: int) -> ApiError:
    """413 Request Entity Too Large, naming the limit."""
    return ApiError(
        413,
        f"request body larger than {limit:,} bytes: the embedded registry refuses bodies over this limit"
        " (kml registry serve --max-body-bytes); keep large content out of the registry and store a URI instead",
    )


def error_response(status: int, message: str) -> JSONResponse:
    """The registry's error body: ``{"code": <HTTP status text>, "message": ...}``."""
    # Like the real server, a 422 (missing required field) still says "Bad Request" in its body.
    code = "Bad Request" if status == 422 else HTTPStatus(status).phrase
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no such endpoint; the Model Registry API is under {BASE_PATH}")
    return error_response(exc.status_code, str(exc.detail))


async def _unexpected(_request: Request, exc: Exception) -> Response:
    logger.exception("internal error")
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
"""Starlette ``exception_handlers`` of the registry application."""
