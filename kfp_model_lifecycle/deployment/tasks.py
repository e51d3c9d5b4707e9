"""The jobs of the ``deploy_model`` and ``rollback_deployment`` components.

Each component declares its inputs, outputs and documentation and calls one function here with all of its
arguments; the component's defaults are the only ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import Artifact

from kfp_model_lifecycle.deployment.run import DeploymentResult, run_deploy_model, run_rollback_deployment
from kfp_model_lifecycle.log import component_log


class DeploymentOutputs(NamedTuple):
    """The parameter outputs of ``deploy_model`` and ``rollback_deployment``."""

    url: str
    inference_service_name: str
    namespace: str
    version_name: str
    previous_version: str


def _manifest_metadata(result: DeploymentResult) -> dict[str, Any]:
    """What the manifest artifact's metadata says about the deployment."""
    return {
        "inference_service_name": result.inference_service_name,
        "namespace": result.namespace,
        "model_reference": result.reference,
        "url": result.url,
        "dry_run": result.dry_run,
    }


def deploy_model_task(*, manifest: Artifact, **parameters: Any) -> DeploymentOutputs:
    """Run ``deploy_model``: roll the version out (or only write the manifest in a dry run).

    Args:
        manifest: Output artifact for the InferenceService manifest.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        Where the version serves and what it replaced.
    """
    with component_log("deploy_model"):
        result = run_deploy_model(manifest_path=manifest.path, **parameters)
    manifest.metadata.update(_manifest_metadata(result))
    return DeploymentOutputs(
        result.url, result.inference_service_name, result.namespace, result.version, result.previous_version
    )


def rollback_deployment_task(*, manifest: Artifact, **parameters: Any) -> DeploymentOutputs:
    """Run ``rollback_deployment``: redeploy the previously deployed version.

    Args:
        manifest: Output artifact for the manifest of the version deployed now.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        Where the version serves and the version it replaced.
    """
    with component_log("rollback_deployment"):
        result = run_rollback_deployment(manifest_path=manifest.path, **parameters)
    manifest.metadata.update({**_manifest_metadata(result), "rolled_back_from": result.rolled_back_from})
    return DeploymentOutputs(
        result.url, result.inference_service_name, result.namespace, result.version, result.rolled_back_from
    )
