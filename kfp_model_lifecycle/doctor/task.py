"""The ``verify_installation`` component's job: run the checklist, write it as Markdown, fail on a required check.

The component (``components/verify_installation/component.py``) declares the inputs, outputs and documentation
and calls :func:`verify_installation_task` with all of its arguments; the component's defaults are the only ones.
Inside a pod the Kubernetes checks use the pod's service account, and the namespace is the pod's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from kfp.dsl import Markdown

from kfp_model_lifecycle.doctor.checklist import Checklist
from kfp_model_lifecycle.doctor.kubernetes_checks import DEPLOY_VERBS
from kfp_model_lifecycle.doctor.run import DoctorSettings, check_installation
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import check_flag, check_text, check_text_list, shown, write_text_atomically
from kfp_model_lifecycle.log import component_log

__all__ = ["VerifyInstallationOutputs", "run_verify_installation", "verify_installation_task"]

KUBERNETES_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


class VerifyInstallationOutputs(NamedTuple):
    """The component's parameter outputs (see the component)."""

    checklist: dict
    warnings: int


def check_verbs(verbs: Any) -> list[str]:
    """The verbs required on InferenceServices (None: what deploy_model needs).

    Args:
        verbs: What was passed.

    Returns:
        The verbs, lower case.

    Raises:
        InvalidInputError: For something that is not a list of Kubernetes verbs.
    """
    if verbs is None:
        return list(DEPLOY_VERBS)
    listed = [v.strip().lower() for v in check_text_list(verbs, "inference_service_verbs", example="['get']")]
    unknown = [v for v in listed if v not in KUBERNETES_VERBS]
    if unknown or not listed:
        raise InvalidInputError(
            f"inference_service_verbs {shown(verbs)}: expected some of {', '.join(KUBERNETES_VERBS)}"
            " (default: get, create, patch, delete -- what deploy_model needs; ['get'] for a read-only audit)"
        )
    return listed


def run_verify_installation(
    *,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    write_probe: bool = True,
    check_kubernetes: bool = True,
    namespace: str = "",
    inference_service_verbs: Sequence[str] | None = None,
    token_secret_name: str = "",
    token_secret_key: str = "token",  # noqa: S107 - the key's name
    env: Mapping[str, str] | None = None,
    kubeconfig_path: str = "",
    kube_context: str = "",
) -> Checklist:
    """Check the installation as the component does (see the component for the inputs).

    Args:
        registry_url: Registry base URL ("" reads ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle for https.
        write_probe: Check that writes reach the registry (writes nothing).
        check_kubernetes: Run the Kubernetes checks.
        namespace: Namespace of the RBAC and Secret checks ("" for the pod's).
        inference_service_verbs: Verbs required on InferenceServices (None: get, create, patch, delete).
        token_secret_name: The registry token Secret to check ("" for none).
        token_secret_key: Its key.
        env: Environment (default ``os.environ``).
        kubeconfig_path: Kubeconfig (Python callers and tests; pods use their service account).
        kube_context: Kubeconfig context.

    Returns:
        The checklist (not raised on: see :meth:`Checklist.require_ok`).
    """
    settings = DoctorSettings(
        registry_url=check_text(registry_url, "registry_url", example="'http://127.0.0.1:8080'").strip(),
        verify_tls=check_flag(verify_tls, "verify_tls"),
        ca_bundle_path=check_text(ca_bundle_path, "ca_bundle_path").strip(),
        write_probe=check_flag(write_probe, "write_probe"),
        kubernetes=check_flag(check_kubernetes, "check_kubernetes"),
        kubeconfig_path=check_text(kubeconfig_path, "kubeconfig_path").strip(),
        kube_context=check_text(kube_context, "kube_context").strip(),
        namespace=check_text(namespace, "namespace", example="'kubeflow-user-example-com'").strip(),
        token_secret_name=check_text(token_secret_name, "token_secret_name", example="'model-registry-token'").strip(),
        token_secret_key=check_text(token_secret_key, "token_secret_key", example="'token'").strip() or "token",
        verbs=tuple(check_verbs(inference_service_verbs)),
        env=dict(os.environ if env is None else env),
    )
    return check_installation(settings)


def verify_installation_task(*, report: Markdown, **parameters: Any) -> VerifyInstallationOutputs:
    """Run ``verify_installation``: the checklist as Markdown and in the log, then fail on a required check.

    Args:
        report: Output Markdown checklist.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The checklist (JSON) and how many optional checks failed.

    Raises:
        InstallationCheckError: When a required check did not pass (the message lists every check and fix).
    """
    with component_log("verify_installation"):
        checklist = run_verify_installation(**parameters)
        write_text_atomically(report.path, checklist.markdown())
        report.metadata.update({"ok": checklist.ok, **checklist.counts()})
        print("\n".join(checklist.text_lines(unicode=False)))
        checklist.require_ok()
    return VerifyInstallationOutputs(checklist.to_dict(), len(checklist.warnings))
