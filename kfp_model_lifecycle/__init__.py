"""kfp-model-lifecycle: Kubeflow Pipelines components for the model lifecycle.

Register, compare, promote and deploy models with the Kubeflow Model Registry and KServe.
The components live in :mod:`kfp_model_lifecycle.components`, the example pipelines in
:mod:`kfp_model_lifecycle.pipelines`, and developer tooling (the embedded Model Registry, the ``kml``
command) in the other subpackages.
"""

__version__ = "0.1.0"
