"""Bounded exponential backoff for calls that may fail transiently (the registry, the Kubernetes API)."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from kfp_model_lifecycle.client.failures import is_transient_registry_error, registry_error_detail
from kfp_model_lifecycle.log import LOGGER_NAME

T = TypeVar("T")
ATTEMPTS_ATTRIBUTE = "kml_attempts"

log = logging.getLogger(LOGGER_NAME)


def call_with_backoff(
    operation: Callable[[], T],
    *,
    max_attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 10.0,
    is_transient: Callable[[BaseException], bool] | None = None,
    describe: Callable[[BaseException], str] | None = None,
) -> tuple[T, int]:
    """Call ``operation`` until it succeeds, retrying transient failures with bounded exponential backoff.

    The delay before attempt ``n + 1`` is ``min(max_delay, base_delay * 2 ** (n - 1))`` scaled by a random
    factor in [0.5, 1] (jitter spreads out concurrent clients); a ``Retry-After`` header in seconds is honoured
    up to ``max_delay``.

    Args:
        operation: The call (no arguments).
        max_attempts: Attempts in total (at least 1).
        base_delay: First delay in seconds.
        max_delay: Largest delay in seconds.
        is_transient: Decides whether an exception is retried (default: transient registry errors).
        describe: Short text for the log line of a retried failure (default: the registry error detail).

    Returns:
        ``(result, attempts used)``.

    Raises:
        Exception: The last exception, unchanged, when it is not transient or attempts ran out; its
            ``kml_attempts`` attribute holds the number of attempts made.
    """
    is_transient = is_transient or is_transient_registry_error
    describe = describe or registry_error_detail
    attempts = max(1, int(max_attempts))
    for attempt in range(1, attempts + 1):
        try:
            return operation(), attempt
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                with contextlib.suppress(AttributeError):  # exceptions with __slots__
                    setattr(exc, ATTEMPTS_ATTRIBUTE, attempt)
                raise
            delay = _delay(exc, attempt, base_delay, max_delay)
            log.warning(
                "transient failure (attempt %d of %d): %s; retrying in %.1fs", attempt, attempts, describe(exc), delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _delay(exc: BaseException, attempt: int, base_delay: float, max_delay: float) -> float:
    delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    headers = getattr(exc, "headers", None)
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    if retry_after and str(retry_after).strip().isdigit():
        delay = min(max_delay, max(delay, float(str(retry_after).strip())))
    return delay


def attempts_made(exc: BaseException) -> int:
    """How many attempts :func:`call_with_backoff` made before giving up with ``exc`` (1 when unknown)."""
    return int(getattr(exc, ATTEMPTS_ATTRIBUTE, 1) or 1)
