"""An embedded Kubeflow Model Registry: the REST API v1 on SQLite, for laptops, tests and demos.

The official ``model-registry`` Python client talks to it exactly as it talks to a cluster's registry::

    from kfp_model_lifecycle.local.registry import EmbeddedRegistry

    with EmbeddedRegistry(db_path="registry.db") as registry:
        client = model_registry.ModelRegistry(registry.address, registry.port, author="me", is_secure=False)

Modules: :mod:`.server` (start and stop) with :mod:`.protocol` (JSON 400s from the HTTP layer), :mod:`.command`
and :mod:`.arguments` (``kml registry serve``); :mod:`.app` (routing) with :mod:`.handlers` (the 40 operations),
:mod:`.validation` (reading requests), :mod:`.entities`, :mod:`.metadata` and :mod:`.names` (what the real
server accepts and stores), :mod:`.errors`, :mod:`.responses` and :mod:`.middleware` (access policy, Istio guard,
body limit); :mod:`.store` (reads and writes) over :mod:`.database` (a writer and per-thread readers) and
:mod:`.schema`, :mod:`.query` and :mod:`.planner` (scopes, pages, which index a list starts from),
:mod:`.filter_parser` and :mod:`.filter_query` (``filterQuery`` to SQL).

The package imports its server (uvicorn, Starlette, the client's models) only when :class:`EmbeddedRegistry` or
:func:`create_app` is first used, so ``kml --help`` stays quick.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmbeddedRegistry", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kfp_model_lifecycle.local.registry import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
