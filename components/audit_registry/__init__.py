"""audit_registry: a regular audit of the Model Registry, with findings by severity and the fix for each.

The component; the code it runs is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.audit_registry.component import audit_registry

__all__ = ["audit_registry"]
