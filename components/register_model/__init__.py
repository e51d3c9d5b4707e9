"""register_model: register a trained model in the Kubeflow Model Registry with its lineage.

``register_model`` is the KFP component; ``register_model_with_lineage`` adds it to a pipeline with the run
placeholders, namespace and registry token wired. The plain functions the pod runs are re-exported for tests
and for reuse.
"""

from kfp_model_lifecycle.components.register_model.component import register_model, register_model_with_lineage
from kfp_model_lifecycle.components.register_model.registration import (
    build_dataset_artifacts,
    build_model_artifact,
    build_version_properties,
    check_registry_name,
    create_model_version,
    ensure_version_artifacts,
    get_or_create_registered_model,
    next_semver,
    parse_semver,
    parse_version_request,
    register_model_version,
    registered_model_output,
    registration_key,
    run_register_model,
    to_metadata_value,
)

__all__ = [
    "build_dataset_artifacts",
    "build_model_artifact",
    "build_version_properties",
    "check_registry_name",
    "create_model_version",
    "ensure_version_artifacts",
    "get_or_create_registered_model",
    "next_semver",
    "parse_semver",
    "parse_version_request",
    "register_model",
    "register_model_version",
    "register_model_with_lineage",
    "registered_model_output",
    "registration_key",
    "run_register_model",
    "to_metadata_value",
]
