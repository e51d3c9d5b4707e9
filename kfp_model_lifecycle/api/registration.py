"""Registering a model trained outside a pipeline, through the same code as the ``register_model`` component.

:func:`register_local_model` adds what a notebook or a script can tell about itself (``source=manual``, the git
commit of the working directory, the user and the host: :mod:`.manual`) and hands everything to
``run_register_model``: the same checks, typed properties, dataset digests, SemVer bumps that stay correct under
concurrent registrations (a lost race gets 409 and takes the next number) and retried writes that find what an
earlier attempt created.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from kfp_model_lifecycle.api.manual import dataset_inputs, manual_lineage, model_location
from kfp_model_lifecycle.lifecycle import check_text
from kfp_model_lifecycle.lineage import RunContext
from kfp_model_lifecycle.registration import RegistrationResult, run_register_model
from kfp_model_lifecycle.registration.inputs import RegistrationSource


def register_local_model(
    name: str,
    uri: str,
    *,
    version: str = "patch",
    model_format: str = "",
    model_format_version: str = "",
    metrics: Mapping[str, float] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    datasets: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    labels: Iterable[str] | None = None,
    description: str = "",
    author: str = "",
    owner: str = "",
    code_version: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> RegistrationResult:
    """Register a model version from this machine, with the lineage it can find.

    Args:
        name: The registered model (created when missing).
        uri: Where the model is: ``s3://...``, ``https://...``, ``pvc://...``, or a local file or directory
            (recorded as its absolute path; it must exist).
        version: ``patch`` (default), ``minor``, ``major`` or an explicit name such as ``1.2.0``.
        model_format: Serving format, e.g. ``sklearn`` (KServe picks its runtime by it).
        model_format_version: Format version, e.g. ``1``.
        metrics: Metric -> number (recorded as doubles, so ``accuracy > 0.9`` finds them).
        hyperparameters: Name -> value (recorded as ``hp_<name>`` with their types).
        datasets: Role -> URI; local files are read for their sha256 digest.
        labels: Labels shown by the registry UI.
        description: Version description.
        author: Version author (default: the login name).
        owner: Owner of the registered model when it is created (default: the author).
        code_version: Code version (default: the git commit of ``directory``, else CI variables such as
            ``GIT_COMMIT``).
        registry_url: Registry base URL (default ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        env: Environment with the token (``KML_REGISTRY_TOKEN``) and retry settings (default ``os.environ``).
        directory: Working tree to read the git commit from (default: the current directory).

    Returns:
        The registered version (``model_name``, ``version_name``, ``version_id``...) and what was recorded
        (``properties``, ``missing``).

    Raises:
        InvalidInputError: For an input of the wrong type or value (a bad name, version, URI, dataset, a metric that
            is not a finite number...), before anything is written.
        RegistryError: When the registry refuses or cannot be reached.
    """
    check_text(name, "name", example="'iris'")
    location = model_location(uri)
    inputs = dataset_inputs(datasets)
    lineage = manual_lineage(directory)
    return run_register_model(
        model_uri=location,
        model_name=name,
        model_metadata=lineage.metadata(),
        version=version,
        model_format_name=model_format,
        model_format_version=model_format_version,
        metrics=metrics,
        datasets=inputs,
        hyperparameters=hyperparameters,
        labels=labels,
        description=description,
        author=author or lineage.user,
        owner=owner,
        code_version=code_version or lineage.code_version,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
        env=env,
        context=RunContext(),  # no KFP run: nothing to look up in a pod
        source=RegistrationSource.MANUAL,
    )
