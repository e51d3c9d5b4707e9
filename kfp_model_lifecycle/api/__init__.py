"""The model lifecycle from Python: :class:`Lifecycle` (also ``from kfp_model_lifecycle import Lifecycle``).

==================  ===========================================================================================
``lifecycle``       :class:`Lifecycle`: register, get, search, compare, promote, approve, history, deployments,
                    model_uri, download, audit, doctor -- typed results from the functions the components and
                    ``kml`` run
``registration``    :func:`register_local_model`: ``register_model``'s job for a model trained outside a pipeline
``manual``          what such a registration records about itself: ``source=manual``, git commit, user, host
``artifacts``       :func:`download_uri`: local paths, http(s) and s3 (with boto3)
==================  ===========================================================================================
"""

from kfp_model_lifecycle.api.artifacts import download_uri
from kfp_model_lifecycle.api.lifecycle import Lifecycle, metrics_in_common
from kfp_model_lifecycle.api.registration import register_local_model

__all__ = ["Lifecycle", "download_uri", "metrics_in_common", "register_local_model"]
