"""verify_installation: fail fast when the registry, KServe or RBAC is not ready, with the checklist and the fixes.

The component; the code it runs is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.verify_installation.component import verify_installation

__all__ = ["verify_installation"]
