"""The ``register_model`` component's job: unpack the KFP artifacts, register, fill in the outputs.

The component (``components/register_model/component.py``) declares the inputs, outputs and their documentation
and calls :func:`register_model_task` with all of its arguments; the parameters here are the component's, and
the component's defaults are the only ones (``tests/test_components.py`` checks that both lists match).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import Dataset, Metrics, Model

from kfp_model_lifecycle.lineage.sources import DatasetInput
from kfp_model_lifecycle.log import component_log
from kfp_model_lifecycle.registration.run import run_register_model


class RegisterModelOutputs(NamedTuple):
    """The component's parameter outputs."""

    model_id: str
    version_id: str
    version_name: str


def _dataset_inputs(**datasets: Dataset | None) -> list[DatasetInput]:
    return [DatasetInput(role, d.name, d.uri, d.path) for role, d in datasets.items() if d is not None]


def register_model_task(
    *,
    model: Model,
    registered_model: Model,
    metrics: Metrics | None,
    train_dataset: Dataset | None,
    eval_dataset: Dataset | None,
    test_dataset: Dataset | None,
    **parameters: Any,
) -> RegisterModelOutputs:
    """Run ``register_model``: register ``model`` with its lineage and describe the version on ``registered_model``.

    Args:
        model: The trained model (its URI, path and metadata).
        registered_model: The output artifact; its metadata gets the ``registered_models`` pointer.
        metrics: The run's metrics, or None.
        train_dataset: Training data, or None.
        eval_dataset: Evaluation data, or None.
        test_dataset: Test data, or None.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        Model id, version id and version name.
    """
    with component_log("register_model"):
        result = run_register_model(
            model_uri=model.uri,
            model_path=model.path,
            model_metadata=dict(model.metadata or {}),
            metrics=dict(metrics.metadata or {}) if metrics is not None else None,
            datasets=_dataset_inputs(train=train_dataset, eval=eval_dataset, test=test_dataset),
            output_path=registered_model.path,
            **parameters,
        )
        registered_model.metadata.update(result.output_metadata)
    return RegisterModelOutputs(result.model_id, result.version_id, result.version_name)
