"""The ``register_model`` component and ``register_model_with_lineage``, its entry point for pipeline authors.

A thin declaration: the signature and docstring are what KFP compiles into the YAML (inputs, outputs and their
descriptions); the body imports ``kfp_model_lifecycle`` (installed in the pod at this package's own version, see
``components/_common/runtime.py``) and calls :func:`kfp_model_lifecycle.registration.task.register_model_task`.
No ``from __future__ import annotations`` here: KFP reads the component's annotations at runtime, and it
understands ``Optional[...]`` but not ``X | None``.
"""

from typing import Any, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs, wire_run_context

DATASET_INPUTS = ("train_dataset", "eval_dataset", "test_dataset")


@dsl.component(**component_kwargs())
def register_model(
    model: Input[Model],
    model_name: str,
    registered_model: Output[Model],
    version: str = "patch",
    model_format_name: str = "",
    model_format_version: str = "",
    metrics: Optional[Input[Metrics]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    train_dataset: Optional[Input[Dataset]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    eval_dataset: Optional[Input[Dataset]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    test_dataset: Optional[Input[Dataset]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    hyperparameters: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    labels: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    description: str = "",
    author: str = "",
    owner: str = "",
    storage_key: str = "",
    storage_path: str = "",
    service_account_name: str = "",
    code_version: str = "",
    training_image: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
) -> NamedTuple("RegisterModelOutputs", [("model_id", str), ("version_id", str), ("version_name", str)]):
    """Register a trained model in the Kubeflow Model Registry with its lineage (run, data, code, metrics).

    Creates the RegisteredModel if missing, a ModelVersion and its ModelArtifact (uri = the model artifact's
    URI), links the datasets as dataset artifacts, and records the KFP run, namespace, task, datasets with
    sha256 digests, hyperparameters, metrics, code version and training image. Idempotent: a retried or re-run
    task (same run id and task) returns the version it registered before, completing it if it was cut short.
    Call it through ``register_model_with_lineage`` in a pipeline to have the run placeholders, namespace and
    token wired automatically; called with only its required inputs it records what it can find and logs
    what it could not.

    Args:
        model: The trained model. Its URI becomes the ModelArtifact's uri; its metadata supplies defaults
            (``framework``/``framework_version`` for the format, ``code_version``, ``training_image``) and is
            recorded as hyperparameters.
        model_name: Name of the registered model (created if missing), e.g. ``iris-classifier``.
        registered_model: Output pointer to the registered version (see Returns).
        version: ``patch`` (default), ``minor`` or ``major`` to bump the highest SemVer version already
            registered (the first is ``1.0.0``), or an explicit version name.
        model_format_name: Model format for serving, e.g. ``sklearn``; default ``model.metadata['framework']``.
        model_format_version: Format version, e.g. ``1``; default ``model.metadata['framework_version']``.
        metrics: Evaluation metrics; each scalar is recorded as a double property under its own name.
        train_dataset: Training data; recorded with its URI and sha256 digest.
        eval_dataset: Evaluation/validation data; recorded with its URI and sha256 digest.
        test_dataset: Test data; recorded with its URI and sha256 digest.
        hyperparameters: Hyperparameters, recorded as ``hp_<name>`` properties (with ``model.metadata``).
        labels: Labels for the version (string properties with empty values, shown as labels in the UI).
        description: Description of the version.
        author: Author of the version.
        owner: Owner of the registered model when it is created; default ``author``.
        storage_key: Name of the storage connection/secret KServe uses to read the model URI.
        storage_path: Path within the storage, when the URI is not enough.
        service_account_name: Service account with access to the model's storage.
        code_version: Git commit of the training code; default from model metadata or CI variables.
        training_image: Image the model was trained in; default ``model.metadata['training_image']``.
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        namespace: Namespace of the run; default env ``POD_NAMESPACE`` or the service-account namespace.
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port, e.g.
            ``https://model-registry-service.kubeflow.svc.cluster.local:8443``; default env ``KML_REGISTRY_URL``.
            The token comes from env ``KML_REGISTRY_TOKEN`` (a Secret), else the service-account token (https).
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https (e.g. a mounted ConfigMap).

    Returns:
        registered_model: JSON pointer to the registered version; its metadata holds ``registered_models``
            (``[{modelName, versionName, versionID, modelID, modelRegistryURL}]``) and ``storage_uri``.
        model_id: Id of the registered model.
        version_id: Id of the model version.
        version_name: Name of the model version, e.g. ``1.0.3``.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.registration.task import register_model_task

    return register_model_task(**arguments)


def register_model_with_lineage(
    model: Any,
    model_name: Any,
    *,
    version: Any = "patch",
    metrics: Any = None,
    datasets: list | dict | None = None,
    hyperparameters: Any = None,
    labels: Any = None,
    model_format_name: Any = "",
    model_format_version: Any = "",
    description: Any = "",
    author: Any = "",
    owner: Any = "",
    storage_key: Any = "",
    storage_path: Any = "",
    service_account_name: Any = "",
    code_version: Any = "",
    training_image: Any = "",
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add a ``register_model`` task to the pipeline being defined, with the lineage wired automatically.

    Call it inside a ``@dsl.pipeline`` function. It passes the run placeholders
    (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``, ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``,
    ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``; the KFP backend substitutes them only in task arguments) and the
    pipeline's name, exposes the pod's namespace as ``POD_NAMESPACE`` and, when ``token_secret_name`` is given,
    the registry token from that Secret as ``KML_REGISTRY_TOKEN``. The Kubernetes settings apply on a cluster;
    local runs ignore them. Every argument may be a constant or a pipeline parameter/task output.

    Example::

        @dsl.pipeline(name="train-and-register")
        def pipeline(registry_url: str = "http://model-registry-service.kubeflow.svc.cluster.local:8080"):
            train = train_model(...)
            register_model_with_lineage(
                train.outputs["model"], "iris-classifier",
                metrics=train.outputs["metrics"], datasets={"train": data.outputs["train"]},
                hyperparameters={"n_estimators": 100}, registry_url=registry_url,
                token_secret_name="model-registry-token",
            )

    Args:
        model: The trained model (a task's ``Output[Model]``).
        model_name: Registered model name.
        version: ``patch``/``minor``/``major`` or an explicit version name.
        metrics: A task's ``Output[Metrics]``.
        datasets: Up to three ``Output[Dataset]`` channels: a dict with keys ``train``, ``eval``, ``test``, or
            a list taken in that order. (KFP 2.17 cannot pass a Python list of task outputs into one
            ``Input[List[Dataset]]``, so the component has one input per role.)
        hyperparameters: Dict of hyperparameters.
        labels: List of labels.
        model_format_name: Model format (default from ``model.metadata``).
        model_format_version: Model format version (default from ``model.metadata``).
        description: Version description.
        author: Version author.
        owner: Registered model owner.
        storage_key: ModelArtifact storage key.
        storage_path: ModelArtifact storage path.
        service_account_name: ModelArtifact service account.
        code_version: Git commit of the training code.
        training_image: Image the training ran in.
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token (None: service-account token over https).
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``registered_model``, ``model_id``, ``version_id`` and ``version_name``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
        ValueError: For unknown dataset roles or more than three datasets.
    """
    return wire_run_context(
        register_model,
        "register_model_with_lineage",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model=model,
        model_name=model_name,
        version=version,
        model_format_name=model_format_name,
        model_format_version=model_format_version,
        metrics=metrics,
        hyperparameters=hyperparameters,
        labels=labels,
        **_dataset_arguments(datasets),
        description=description,
        author=author,
        owner=owner,
        storage_key=storage_key,
        storage_path=storage_path,
        service_account_name=service_account_name,
        code_version=code_version,
        training_image=training_image,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )


def _dataset_arguments(datasets: list | tuple | dict | None) -> dict[str, Any]:
    """Map ``datasets`` (dict by role or list in role order) onto the component's dataset inputs."""
    roles = {"train": "train_dataset", "eval": "eval_dataset", "test": "test_dataset"}
    if datasets is None:
        return {}
    if isinstance(datasets, dict):
        unknown = sorted(set(datasets) - set(roles))
        if unknown:
            raise ValueError(f"datasets has unknown role(s) {unknown}: use the keys 'train', 'eval' and 'test'")
        return {roles[role]: value for role, value in datasets.items() if value is not None}
    if isinstance(datasets, (list, tuple)):
        if len(datasets) > len(DATASET_INPUTS):
            raise ValueError(
                f"datasets has {len(datasets)} entries: at most {len(DATASET_INPUTS)} (train, eval, test) are supported"
            )
        return {name: value for name, value in zip(DATASET_INPUTS, datasets, strict=False) if value is not None}
    return {"train_dataset": datasets}  # a single dataset channel
