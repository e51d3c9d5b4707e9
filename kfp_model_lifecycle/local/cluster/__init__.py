"""A local stand-in for a Kubernetes cluster with KServe (developer tooling, not a component).

So that deploying an InferenceService runs end to end on one machine, through the same client code as in a
cluster: a fake Kubernetes API server (InferenceServices with resourceVersion, generation, status and 403
semantics; the predictor Deployments of RawDeployment ones) writes a kubeconfig for the official ``kubernetes``
client, a KServe-like controller serves each InferenceService with KServe's own model server (``kserve`` is a dev
extra) on loopback and reports status as KServe does, traps included, and the Model Registry's InferenceService
controller links labelled InferenceServices to the registry::

    from kfp_model_lifecycle.local.cluster import LocalCluster

    with LocalCluster(registry_url=registry.url) as cluster:      # or `kml cluster up`
        kubernetes.config.load_kube_config(config_file=str(cluster.kubeconfig_path))
        ...

Modules: :mod:`~kfp_model_lifecycle.local.cluster.store` (objects and write semantics); the API server
:mod:`.api` (HTTP, authorization) with :mod:`.patches`, :mod:`.selectors`, :mod:`.watch` and :mod:`.discovery`;
the controller :mod:`.controller` (the reconcile loop) with :mod:`.workqueue`, :mod:`.spec` (what is served),
:mod:`.revisions` (revisions and traffic), :mod:`.deployments` (RawDeployment's predictor Deployment and its
rollout), :mod:`.status` (the status KServe writes) and :mod:`.model_process` (model server processes);
:mod:`.registry_controller` (the Model Registry's controller); :mod:`.storage` (storageUri, as the registry's
storage initializer), :mod:`.model_server` (the model server itself), :mod:`.router` (canary split),
:mod:`.server` (start/stop, kubeconfig).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfp_model_lifecycle.local.cluster.server import LocalCluster, write_kubeconfig

__all__ = ["LocalCluster", "write_kubeconfig"]


def __getattr__(name: str) -> Any:
    """Import the server lazily: ``kml`` loads :mod:`.cli` without the API server and controller."""
    if name in __all__:
        from kfp_model_lifecycle.local.cluster import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
