"""Entity names as the real server stores them: generated when missing, owner-prefixed, at most 255 characters.

Verified in kubeflow/hub (``internal/converter``, the MySQL/PostgreSQL migrations):

* An artifact, InferenceService or ServeModel created without a name gets a generated UUID name.
* Names of owned entities are stored as ``<owner id>:<name>``: a model version under its registered model, an
  InferenceService under its serving environment, a ServeModel under its InferenceService, an artifact under
  the model version it is created in (``POST /model_versions/{id}/artifacts``) or, created on its own
  (``POST /artifacts``, ``POST /model_artifacts``), under a generated UUID (36 characters). Registered models and
  serving environments are stored as named.
* ``name``, ``external_id`` and property names are ``varchar(255)`` columns. The real server reports an over-long
  value as a database error: **500** ``error saving model version: Error 1406 (22001): Data too long for column
  'name' at row 1`` (MySQL). The embedded registry refuses the same requests, but with **400** and the limit in
  the message: it never answers 500 for a request it can judge.
"""

from __future__ import annotations

import uuid

from kfp_model_lifecycle.local.registry.errors import bad_request

COLUMN_LIMIT = 255
"""Characters of the real server's ``name`` and ``external_id`` columns."""
UUID_OWNER = "<uuid>"
"""The owner prefix of an artifact created outside a model version: a generated UUID (36 characters)."""
_UUID_LENGTH = 36


def generated_name() -> str:
    """A name for an entity created without one (a random UUID, like the real server's)."""
    return str(uuid.uuid4())


def _data_too_long(column: str) -> str:
    return f"Error 1406 (22001): Data too long for column '{column}' at row 1"


def check_stored_name(label: str, name: str, owner: str | None) -> None:
    """Check that ``name`` fits the real server's column once prefixed with its owner.

    Args:
        label: The entity type, e.g. "model version".
        name: The name as sent.
        owner: The owner id the real server prefixes (:data:`UUID_OWNER` for a generated UUID), or None.

    Raises:
        ApiError: 400 naming the limit for this owner.
    """
    prefix = 0 if owner is None else (_UUID_LENGTH if owner == UUID_OWNER else len(owner)) + 1
    if prefix + len(name) <= COLUMN_LIMIT:
        return
    stored = "" if owner is None else f" as '{owner}:<name>'"
    raise bad_request(
        f"{label} name of {len(name)} characters is too long: the registry stores it{stored} in a column of"
        f" {COLUMN_LIMIT} characters, so at most {COLUMN_LIMIT - prefix} fit here (the real server fails this"
        f" request with 500 'error saving {label}: {_data_too_long('name')}')"
    )


def check_external_id(label: str, external_id: str | None) -> None:
    """Check that an ``externalId`` fits the real server's ``varchar(255)`` column.

    Raises:
        ApiError: 400 naming the limit.
    """
    if external_id is not None and len(external_id) > COLUMN_LIMIT:
        raise bad_request(
            f"externalId of {len(external_id)} characters is too long: at most {COLUMN_LIMIT} (the real server"
            f" fails this request with 500 'error saving {label}: {_data_too_long('external_id')}')"
        )


def check_property_name(name: str) -> None:
    """Check that a custom property name fits the real server's ``varchar(255)`` column.

    Raises:
        ApiError: 400 naming the limit.
    """
    if len(name) > COLUMN_LIMIT:
        raise bad_request(
            f"custom property name of {len(name)} characters is too long: at most {COLUMN_LIMIT} (the real"
            f" server fails this request with 500 'error creating property ...: {_data_too_long('name')}')"
        )
