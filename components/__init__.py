"""KFP v2 components of the model lifecycle.

``kml compile`` writes ``compiled/components/<name>.yaml`` for every component exported here.
"""

from kfp_model_lifecycle.components.register_model import register_model, register_model_with_lineage

__all__ = ["register_model", "register_model_with_lineage"]
