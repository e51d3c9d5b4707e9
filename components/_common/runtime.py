"""How a component's pod gets the package: image, pinned package, package index -- decided in one place.

Every library component passes ``**component_kwargs()`` to ``@dsl.component``. The body imports
``kfp_model_lifecycle`` and calls one function, so the pod needs this package at the same version as the
component definition. Three routes, chosen when the components are compiled (``kml compile`` sets the
environment variables before it imports the components):

==========================  =================================================================================
default                     ``python:3.11`` and ``pip install kfp-model-lifecycle==<this version>`` at start-up
``KML_PACKAGE_SPEC``        another requirement instead of the pinned version: a git URL at a tag
                            (``kfp-model-lifecycle @ git+https://...@v0.1.0``) or a wheel URL
``KML_PIP_INDEX_URL``       the package index pip installs from (a private mirror), with either of the above
``KML_COMPONENT_BASE_IMAGE``  the runtime image (``runtime-image/Dockerfile``, this package preinstalled at the
                            same version): nothing is installed at start-up
==========================  =================================================================================

The version comes from ``kfp_model_lifecycle.__version__`` (``pyproject.toml`` reads it from there too), so a
component and the code it runs never drift apart.
"""

from __future__ import annotations

import os
from typing import Any

from kfp import dsl, kubernetes
from kfp.dsl import pipeline_context

from kfp_model_lifecycle import __version__

PACKAGE_NAME = "kfp-model-lifecycle"
BASE_IMAGE = "python:3.11"
BASE_IMAGE_ENV = "KML_COMPONENT_BASE_IMAGE"
PACKAGE_SPEC_ENV = "KML_PACKAGE_SPEC"
PIP_INDEX_URL_ENV = "KML_PIP_INDEX_URL"
TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
# Name the token Secret and its key in the pod, so a missing token fails the task with a clear message
# (kfp_model_lifecycle.client.settings.check_token_secret reads them).
TOKEN_SECRET_ENV = "KML_REGISTRY_TOKEN_SECRET"  # noqa: S105 - the variable's name
TOKEN_SECRET_KEY_ENV = "KML_REGISTRY_TOKEN_SECRET_KEY"  # noqa: S105 - the variable's name
SECRET_PARAMETER_PREFIX = "pipeline parameter "  # noqa: S105 - not a secret

# Pinned packages of the example training steps (pipelines/sklearn_training), which are user code: they do not
# import this package.
SCIKIT_LEARN = "scikit-learn==1.7.2"
JOBLIB = "joblib==1.5.2"


def package_requirement() -> str:
    """The requirement that installs this package's own version in a pod, e.g. ``kfp-model-lifecycle==0.1.0``.

    Returns:
        ``KML_PACKAGE_SPEC`` when set, else the pinned version.
    """
    return os.environ.get(PACKAGE_SPEC_ENV, "").strip() or f"{PACKAGE_NAME}=={__version__}"


def component_kwargs() -> dict[str, Any]:
    """Keyword arguments for a library component's ``@dsl.component``: base image, package and index.

    Returns:
        ``base_image`` and ``packages_to_install`` (one requirement: this package, which brings kfp, the
        registry client and the Kubernetes client), ``install_kfp_package=False`` (kfp comes with the package,
        so pip runs once), and ``pip_index_urls`` when ``KML_PIP_INDEX_URL`` is set. On the runtime image
        (``KML_COMPONENT_BASE_IMAGE``) nothing is installed.
    """
    return {**_install_kwargs([package_requirement()]), "install_kfp_package": False}


def example_component_kwargs(*packages: str) -> dict[str, Any]:
    """Keyword arguments for the example training steps: the public image and their own pinned packages.

    Args:
        *packages: Pinned requirements the step imports (e.g. :data:`SCIKIT_LEARN`).

    Returns:
        ``base_image`` and ``packages_to_install`` (the runtime image, when set, has them preinstalled).
    """
    return _install_kwargs(list(packages))


def _install_kwargs(packages: list[str]) -> dict[str, Any]:
    image = os.environ.get(BASE_IMAGE_ENV, "").strip()
    if image:
        return {"base_image": image, "packages_to_install": [], "install_kfp_package": False}
    kwargs: dict[str, Any] = {"base_image": BASE_IMAGE, "packages_to_install": packages}
    index_url = os.environ.get(PIP_INDEX_URL_ENV, "").strip()
    if index_url:
        kwargs["pip_index_urls"] = [index_url]
    return kwargs


def wire_run_context(
    component: Any,
    entry_point: str,
    *,
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    **arguments: Any,
) -> dsl.PipelineTask:
    """Add ``component`` to the pipeline being defined with the run context wired (the ``*_with_context`` helpers).

    Passes the run placeholders (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``, ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``,
    ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``: the KFP backend substitutes them only in task arguments) and the
    pipeline's name, exposes the pod's namespace as ``POD_NAMESPACE`` and, with ``token_secret_name``, the
    registry token from that Secret as ``KML_REGISTRY_TOKEN``. The Secret is mounted as optional (kfp-kubernetes
    compiles ``optional: true``; a required Secret that is missing would leave the pod in
    ``CreateContainerConfigError`` and the run hanging), and the Secret's name and key are set as
    ``KML_REGISTRY_TOKEN_SECRET`` / ``KML_REGISTRY_TOKEN_SECRET_KEY``, so a task whose token is missing or empty
    fails at once with a message naming them. The Kubernetes settings apply on a cluster; local runs ignore them
    (and, without ``KFP_POD_NAME``, do not require the token).

    Args:
        component: The component (its inputs include ``run_id``, ``run_name``, ``pipeline_name``, ``task_name``).
        entry_point: Name of the calling helper, for the error message.
        token_secret_name: Kubernetes Secret holding the registry token, or None.
        token_secret_key: Key of the token in that Secret.
        **arguments: The component's other arguments; None values are left out (component defaults apply).

    Returns:
        The task.

    Raises:
        RuntimeError: When called outside a ``@dsl.pipeline`` function.
    """
    pipeline = pipeline_context.Pipeline.get_default_pipeline()
    if pipeline is None:
        raise RuntimeError(
            f"{entry_point}() adds a task to a pipeline: call it inside a @dsl.pipeline function"
            f" (outside one, call the {component.name} component directly)"
        )
    task = component(
        **{k: v for k, v in arguments.items() if v is not None},
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        pipeline_name=pipeline.name,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    )
    kubernetes.use_field_path_as_env(task, "POD_NAMESPACE", "metadata.namespace")
    if token_secret_name:
        kubernetes.use_secret_as_env(
            task, secret_name=token_secret_name, secret_key_to_env={token_secret_key: TOKEN_ENV}, optional=True
        )
        task.set_env_variable(TOKEN_SECRET_ENV, _secret_label(token_secret_name))
        task.set_env_variable(TOKEN_SECRET_KEY_ENV, token_secret_key)
    return task


def _secret_label(secret_name: Any) -> str:
    """The Secret's name, or -- when it is a pipeline parameter, known only when the run starts -- which one."""
    if isinstance(secret_name, str):
        return secret_name
    return f"{SECRET_PARAMETER_PREFIX}{getattr(secret_name, 'name', '') or '?'}"
