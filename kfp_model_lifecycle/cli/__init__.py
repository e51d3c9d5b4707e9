"""The ``kml`` command line (tooling: it imports the package, the package never imports it)."""

from kfp_model_lifecycle.cli.main import main

__all__ = ["main"]
