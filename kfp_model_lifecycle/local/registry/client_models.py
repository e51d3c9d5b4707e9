"""The client's generated request models (``mr_openapi.models``), loaded without the client's HTTP stack.

The embedded registry validates request bodies with the official client's generated pydantic models, but
``import mr_openapi.models`` first runs ``mr_openapi/__init__.py``, which imports the generated API client and
aiohttp: about 0.5 s of the server's start-up, for code the server never calls. When ``mr_openapi`` is not
imported yet, :data:`models` is loaded under a placeholder package module that completes itself (runs the real
``mr_openapi/__init__.py`` in place) the first time anything else of the package is asked for, so a later
``import mr_openapi``, ``from mr_openapi import ApiClient`` or ``import model_registry`` in the same process gets
the whole package, with the very same model classes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

PACKAGE = "mr_openapi"


class _CompletingPackage(types.ModuleType):
    """A package module holding only the subpackages imported so far; completes itself on any other attribute."""

    def __getattr__(self, name: str) -> Any:
        if self.__dict__.get("_kml_completed") or name.startswith("__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self.__dict__["_kml_completed"] = True
        self.__spec__.loader.exec_module(self)  # type: ignore[union-attr] - the package's own __init__
        return getattr(self, name)


def _load_models() -> types.ModuleType:
    if PACKAGE in sys.modules:
        return importlib.import_module(f"{PACKAGE}.models")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {PACKAGE!r}", name=PACKAGE)
    package = _CompletingPackage(PACKAGE)
    package.__spec__ = spec
    package.__loader__ = spec.loader
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
    try:
        return importlib.import_module(f"{PACKAGE}.models")
    except BaseException:
        del sys.modules[PACKAGE]
        raise


models = _load_models()
"""``mr_openapi.models``."""
