"""The names that callers imported from the former single-module lifecycle, re-exported where they live now.

The lifecycle is split by concern (see :mod:`kfp_model_lifecycle.lifecycle`). New code imports from the package
(the cross-area API) or from the module that defines a name; this module only keeps existing imports working.
"""

from kfp_model_lifecycle.lifecycle.audit import lifecycle_history
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lifecycle.run import run_approve_model, run_promote_model

__all__ = [
    "lifecycle_history",
    "promote_model_version",
    "resolve_model_reference",
    "run_approve_model",
    "run_promote_model",
]
