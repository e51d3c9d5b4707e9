"""The ``verify_installation`` component: is the installation usable? The ``kml doctor`` checklist as a pipeline step.

A thin declaration: the signature and docstring are what KFP compiles into the YAML; the body imports
``kfp_model_lifecycle`` (installed in the pod at this package's own version) and calls
:func:`kfp_model_lifecycle.doctor.task.verify_installation_task`. No ``from __future__ import annotations`` here:
KFP reads the component's annotations at runtime, and it understands ``Optional[...]`` but not ``X | None``.
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Markdown, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs


@dsl.component(**component_kwargs())
def verify_installation(
    report: Output[Markdown],
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    write_probe: bool = True,
    check_kubernetes: bool = True,
    namespace: str = "",
    inference_service_verbs: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    token_secret_name: str = "",
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
) -> NamedTuple("VerifyInstallationOutputs", [("checklist", dict), ("warnings", int)]):
    """Check the installation first, so a pipeline fails fast with every problem and its fix, not halfway through.

    The checks of ``kml doctor``: the registry answers the REST API v1 (not v1alpha3, not another server), accepts
    the credentials (Istio's 403 ``RBAC: access denied`` explained), lets writes through (a dry probe the registry
    refuses itself: nothing is written); KServe's InferenceService CRD is installed (by API discovery when the
    service account may not read CRDs); the pod's service account may get/create/patch/delete InferenceServices in
    the namespace (SelfSubjectAccessReview); the token Secret exists with its key (needs ``get`` on that Secret; a
    403 is a warning). The task fails when a required check fails, with the whole checklist in its message.

    Args:
        registry_url: Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod for https.
        write_probe: Check that writes reach the registry (False for pipelines that only read, e.g. an audit).
        check_kubernetes: Run the Kubernetes checks (KServe's CRD, RBAC, the token Secret) with the pod's service
            account.
        namespace: Namespace of the RBAC and Secret checks; empty: the pod's.
        inference_service_verbs: Verbs the pipeline needs on InferenceServices; default ``["get", "create",
            "patch", "delete"]`` (what deploy_model does), ``["get"]`` for an audit.
        token_secret_name: The Secret the pipeline takes the registry token from (``token_secret_name`` of the
            other entry points); empty: not checked.
        token_secret_key: Its key.

    Returns:
        report: The checklist as a Markdown table: each check with ✓/✗, what was found and the fix.
        checklist: The checklist as JSON: ``ok``, ``counts`` and every check (``name``, ``status``, ``detail``,
            ``fix``).
        warnings: How many optional checks failed (the task still succeeds).
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.doctor.task import verify_installation_task

    return verify_installation_task(**arguments)
