"""What the comparison reads from and writes to the Model Registry: property names and the predictions artifact.

register_model writes a version's metrics as numeric customProperties under their own names; lineage, datasets,
hyperparameters, the model artifact's metadata and lifecycle bookkeeping use the prefixes in
:data:`NON_METRIC_PREFIXES`. The comparison links
a candidate's per-example predictions as a ``dataset-artifact`` so a later comparison can use them as the
baseline's.
"""

from __future__ import annotations

STAGE_PROPERTY = "kml_stage"
"""The version's lifecycle stage (``production``...), kept by the lifecycle."""

HYPERPARAMETER_PREFIX = "hp_"
"""customProperties ``hp_<name>`` hold the training's hyperparameters."""

MODEL_METADATA_PREFIX = "model_meta_"
"""customProperties ``model_meta_<key>`` hold the model artifact's other metadata (``train_accuracy``...): lineage."""

NON_METRIC_PREFIXES = ("kfp_", "dataset_", HYPERPARAMETER_PREFIX, MODEL_METADATA_PREFIX, "kml_")
"""customProperties with these prefixes are lineage or bookkeeping, never metrics."""

MAX_DATASETS = 100
"""Datasets are recorded as ``dataset_<i>_uri``/``_role``/``_sha256`` for ``i`` from 0; at most this many are read."""

LINEAGE_LABELS = (
    ("kfp_pipeline_name", "pipeline"),
    ("kfp_run_name", "run name"),
    ("kfp_run_id", "run id"),
    ("kfp_run_url", "run URL"),
    ("kfp_namespace", "namespace"),
    ("kfp_task_name", "task"),
    ("code_version", "code version"),
    ("training_image", "training image"),
    ("kfp_model_uri", "model URI"),
)
"""customProperty -> label of the lineage rows in the report, in the report's order."""

DATASET_ARTIFACT_TYPE = "dataset-artifact"
PREDICTIONS_ARTIFACT_NAME = "predictions-dataset"
"""Name of the ``dataset-artifact`` holding a version's per-example predictions."""

PREDICTIONS_ROLE = "predictions"
"""Value of the ``role`` customProperty of that artifact."""

PREDICTIONS_URI_PROPERTY = "kml_predictions_uri"
"""A version customProperty another tool may use to point at the predictions instead."""
