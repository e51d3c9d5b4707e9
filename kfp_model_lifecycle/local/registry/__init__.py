"""An embedded Kubeflow Model Registry: the REST API v1 on SQLite, for laptops, tests and demos.

The official ``model-registry`` Python client talks to it exactly as it talks to a cluster's registry::

    from kfp_model_lifecycle.local.registry import EmbeddedRegistry

    with EmbeddedRegistry(db_path="registry.db") as registry:
        client = model_registry.ModelRegistry(registry.address, registry.port, author="me", is_secure=False)

Modules: :mod:`.server` (start and stop), :mod:`.app` (routing) with :mod:`.handlers` (the 40 operations),
:mod:`.validation` (reading requests), :mod:`.entities` (body validation), :mod:`.errors` and :mod:`.middleware`;
:mod:`.store` (SQLite reads and writes) with :mod:`.schema`, :mod:`.query` (scopes, list options, pages),
:mod:`.filter_parser` and :mod:`.filter_query` (``filterQuery`` to SQL).
"""

from kfp_model_lifecycle.local.registry.server import EmbeddedRegistry, create_app

__all__ = ["EmbeddedRegistry", "create_app"]
