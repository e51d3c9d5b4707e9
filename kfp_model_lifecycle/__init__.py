"""kfp-model-lifecycle: Kubeflow Pipelines components for the model lifecycle.

Register, compare, promote and deploy models with the Kubeflow Model Registry and KServe.
The components live in :mod:`kfp_model_lifecycle.components`, the example pipelines in
:mod:`kfp_model_lifecycle.pipelines`, the Python API in :class:`Lifecycle` (:mod:`kfp_model_lifecycle.api`), and
developer tooling (the embedded Model Registry, the ``kml`` command) in the other subpackages.

``import kfp_model_lifecycle`` stays light: ``Lifecycle`` (and the registry client behind it) loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfp_model_lifecycle.api import Lifecycle

__version__ = "0.1.0"

__all__ = ["Lifecycle", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Lifecycle":
        value = importlib.import_module("kfp_model_lifecycle.api").Lifecycle
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
