"""Lineage collected in the pod: the KFP run, namespace, code version, training image, dataset digests."""

from kfp_model_lifecycle.lineage.context import RunContext, build_run_url, collect_run_context, is_missing_value
from kfp_model_lifecycle.lineage.sources import (
    DatasetInput,
    DatasetRecord,
    describe_dataset_input,
    find_code_version,
    find_training_image,
    sha256_of_path,
)

__all__ = [
    "DatasetInput",
    "DatasetRecord",
    "RunContext",
    "build_run_url",
    "collect_run_context",
    "describe_dataset_input",
    "find_code_version",
    "find_training_image",
    "is_missing_value",
    "sha256_of_path",
]
