"""Read-modify-write of a registry entity, safe against the real server's spurious 409 on concurrent PATCHes.

The Model Registry has no ETag or version field: a PATCH is get -> merge -> save in separate steps, and two
concurrent PATCHes that both add the same new custom property key can collide on the property table's primary key,
so the loser gets ``409`` ("... already exists") although nothing is wrong with its request (verified in the Go
server's source; see ``../shared/notes/model-registry-facts.md``). Sending ``customProperties`` replaces the whole
map, so a retry must re-read the entity and re-apply the change, not resend the old body.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mr_openapi import ModelRegistryServiceApi

from kfp_model_lifecycle.client.connection import RegistryConnection, Wire
from kfp_model_lifecycle.errors import ConcurrencyError, RegistryError
from kfp_model_lifecycle.log import LOGGER_NAME

CONFLICT_ATTEMPTS = 6
CONFLICT_STATUS = 409
MAX_JITTER_SECONDS = 0.2

log = logging.getLogger(LOGGER_NAME)


def update_with_retry(
    conn: RegistryConnection,
    action: str,
    *,
    read: Callable[[], Wire],
    modify: Callable[[Wire], dict[str, Any] | None],
    write: Callable[[ModelRegistryServiceApi, dict[str, Any]], Awaitable[Any]],
    max_attempts: int = CONFLICT_ATTEMPTS,
) -> Wire | None:
    """Re-read, re-apply and PATCH again when the registry answers 409, a bounded number of times.

    Args:
        conn: The registry connection.
        action: What is updated, for messages, e.g. ``"update the lifecycle view of model 'iris'"``.
        read: Returns the entity as it is now (a fresh GET).
        modify: Returns the PATCH body for that state, or None when nothing needs to change.
        write: ``lambda api, body: api.update_...(id, Model.from_dict(body))``.
        max_attempts: Attempts in total.

    Returns:
        The entity as the registry returned it after the PATCH, or None when ``modify`` found nothing to change.

    Raises:
        ConcurrencyError: When every attempt met a 409.
        RegistryError: For any other failure (transient failures are retried inside each call).
    """
    for attempt in range(1, max(1, max_attempts) + 1):
        body = modify(read())
        if body is None:
            return None
        try:
            return conn.call(action, lambda api, b=body: write(api, b))
        except RegistryError as exc:
            if exc.status != CONFLICT_STATUS:
                raise
            log.info("%s: the registry answered 409 (attempt %d of %d); re-reading and applying again",
                     action, attempt, max_attempts)  # fmt: skip
            time.sleep(random.uniform(0, MAX_JITTER_SECONDS * attempt / max_attempts))
    raise ConcurrencyError(
        f"could not {action}: the Model Registry answered 409 Conflict {max_attempts} times (concurrent writers"
        " adding the same properties). Fix: re-run; nothing half-written is left behind by these attempts"
    )
