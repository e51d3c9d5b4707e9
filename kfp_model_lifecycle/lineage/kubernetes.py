"""Reading the pod's own KFP run from Kubernetes: its namespace, the run id label, the run's display name.

What the KFP v2 backend puts where (kubeflow/pipelines ``backend/src/apiserver/template/v2_template.go``): every
pod of a run carries the label ``pipeline/runid=<run id>`` (and Argo's ``workflows.argoproj.io/workflow=<workflow
name>``); the run's display name is only on the Argo Workflow object, as the annotation
``pipelines.kubeflow.org/run_name`` -- never on a pod. So the run id needs ``get`` on pods, the display name
``get`` on pods and on ``workflows.argoproj.io`` workflows.

Only the standard library is used (the pod's service-account token and CA), so lineage costs no extra
dependency. Every lookup is best effort: what cannot be read is returned as a note, never raised.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_NAMESPACE_PATH = f"{SA_DIR}/namespace"
SA_TOKEN_PATH = f"{SA_DIR}/token"
SA_CA_PATH = f"{SA_DIR}/ca.crt"
RUN_ID_LABEL = "pipeline/runid"
RUN_NAME_ANNOTATION = "pipelines.kubeflow.org/run_name"
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"


def read_service_account_namespace(path: str = SA_NAMESPACE_PATH) -> str:
    """The pod's namespace from its service-account files ("" when not in a pod or not readable).

    Args:
        path: The namespace file.

    Returns:
        The namespace or "".
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class PodLineage:
    """What the pod's Kubernetes objects tell about its KFP run.

    Attributes:
        run_id: From the pod label ``pipeline/runid`` ("" when not found).
        run_name: The run's display name, from the annotation ``pipelines.kubeflow.org/run_name`` of the pod's
            Argo Workflow ("" when not found or not looked up).
        workflow_name: The Argo Workflow's name, from the pod label ``workflows.argoproj.io/workflow``.
        notes: What could not be read, and why.
    """

    run_id: str = ""
    run_name: str = ""
    workflow_name: str = ""
    notes: tuple[str, ...] = ()


def kubernetes_api_get(
    api_path: str,
    *,
    api_url: str = "",
    token_path: str = SA_TOKEN_PATH,
    ca_path: str = SA_CA_PATH,
    timeout: float = 5.0,
    max_attempts: int = 3,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET one object from the Kubernetes API with the pod's service-account token (standard library only).

    Args:
        api_path: e.g. ``/api/v1/namespaces/ns/pods/name``.
        api_url: API server base URL; default ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``.
        token_path: Service-account token file (sent as bearer token when it exists).
        ca_path: CA bundle of the API server (used when it exists).
        timeout: Seconds per request.
        max_attempts: Attempts for transient failures (connection errors, 5xx, 429).
        env: Environment to read (default ``os.environ``).

    Returns:
        The decoded JSON object.

    Raises:
        PermissionError: 401/403 (the message names the missing RBAC permission).
        LookupError: 404, or no API server address known.
        ConnectionError: Other failures (after retries for transient ones).
    """
    api_url = _api_server_url(api_url, os.environ if env is None else env)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by _api_server_url
        api_url.rstrip("/") + api_path, headers={"Accept": "application/json"}
    )
    if token_path and os.path.isfile(token_path):
        with open(token_path, encoding="utf-8") as handle:
            request.add_header("Authorization", "Bearer " + handle.read().strip())
    context = None
    if api_url.startswith("https://"):
        context = ssl.create_default_context(cafile=ca_path if ca_path and os.path.isfile(ca_path) else None)
    last_error = ""
    for attempt in range(1, max(1, max_attempts) + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            _raise_if_permanent(exc, api_path)
            last_error = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < max_attempts:
            time.sleep(0.2 * 2 ** (attempt - 1))
    raise ConnectionError(f"Kubernetes API {api_path}: {last_error}")


def _api_server_url(api_url: str, env: Mapping[str, str]) -> str:
    """The API server's base URL: ``api_url``, else the in-cluster address from the environment."""
    if not api_url:
        host = (env.get("KUBERNETES_SERVICE_HOST") or "").strip()
        port = (env.get("KUBERNETES_SERVICE_PORT") or "443").strip()
        if not host:
            raise LookupError("not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)")
        api_url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    if not api_url.startswith(("https://", "http://")):
        raise LookupError(f"Kubernetes API URL {api_url!r} is not http(s)")
    return api_url


def _raise_if_permanent(exc: urllib.error.HTTPError, api_path: str) -> None:
    """Raise the error for an answer that no retry changes: refused access (401/403) or not found (404)."""
    if exc.code in (401, 403):
        raise PermissionError(
            f"Kubernetes API {api_path}: HTTP {exc.code}; the pod's service account may not read this object"
        ) from None
    if exc.code == 404:
        raise LookupError(f"Kubernetes API {api_path}: not found") from None


def read_kfp_pod_lineage(
    namespace: str,
    *,
    env: Mapping[str, str] | None = None,
    api_url: str = "",
    token_path: str = SA_TOKEN_PATH,
    ca_path: str = SA_CA_PATH,
    need_run_name: bool = True,
) -> PodLineage:
    """Run id and display name of the KFP run this pod belongs to, read from Kubernetes.

    The pod (``KFP_POD_NAME``) gives the run id (label ``pipeline/runid``) and its Argo Workflow's name (label
    ``workflows.argoproj.io/workflow``); the Workflow gives the run's display name (annotation
    ``pipelines.kubeflow.org/run_name``), looked up only when ``need_run_name``.

    Args:
        namespace: The pod's namespace.
        env: Environment to read (default ``os.environ``).
        api_url: Kubernetes API base URL (default: from the in-cluster environment).
        token_path: Service-account token file.
        ca_path: API server CA bundle.
        need_run_name: Also read the Workflow for the display name.

    Returns:
        What was found, with notes on what could not be read.
    """
    env = os.environ if env is None else env
    pod_name = (env.get("KFP_POD_NAME") or "").strip()
    if not pod_name:
        return PodLineage(notes=("KFP_POD_NAME is not set (not a KFP pod), so pod labels were not read",))
    if not namespace:
        return PodLineage(notes=("the namespace is unknown, so pod labels were not read",))
    get = functools.partial(kubernetes_api_get, api_url=api_url, token_path=token_path, ca_path=ca_path, env=env)
    try:
        pod = get(f"/api/v1/namespaces/{namespace}/pods/{pod_name}")
    except PermissionError:
        return PodLineage(
            notes=(
                f"the service account may not 'get' pods in {namespace}, so the run id could not be read from the"
                " pod's label pipeline/runid (grant it, or pass the run placeholders -- the *_with_context entry"
                " points do)",
            )
        )
    except (LookupError, ConnectionError) as exc:
        return PodLineage(notes=(f"could not read pod {pod_name}: {exc}",))
    labels = (pod.get("metadata") or {}).get("labels") or {}
    run_id = str(labels.get(RUN_ID_LABEL) or "")
    workflow = str(labels.get(WORKFLOW_LABEL) or "")
    notes = [] if run_id else [f"pod {pod_name} has no {RUN_ID_LABEL} label"]
    run_name = ""
    if need_run_name and workflow:
        run_name, note = _read_workflow_run_name(get, namespace, workflow)
        notes += [note] if note else []
    elif need_run_name:
        notes.append(f"pod {pod_name} has no {WORKFLOW_LABEL} label, so the run's display name was not looked up")
    return PodLineage(run_id=run_id, run_name=run_name, workflow_name=workflow, notes=tuple(notes))


def _read_workflow_run_name(get: Callable[[str], dict[str, Any]], namespace: str, workflow: str) -> tuple[str, str]:
    """The run's display name annotated on its Argo Workflow: ``(name or "", note on a failed lookup or "")``."""
    try:
        wf = get(f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{workflow}")
    except PermissionError:
        return "", (
            f"the service account may not 'get' workflows.argoproj.io in {namespace}: the run's display name is"
            f" only on the Argo Workflow {workflow} (annotation {RUN_NAME_ANNOTATION}), so it is not recorded --"
            " pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER as run_name (the *_with_context entry points do), or grant"
            " 'get' on workflows.argoproj.io"
        )
    except (LookupError, ConnectionError) as exc:
        return "", f"could not read Argo Workflow {workflow} for the run's display name: {exc}"
    annotations = (wf.get("metadata") or {}).get("annotations") or {}
    run_name = str(annotations.get(RUN_NAME_ANNOTATION) or "")
    return run_name, "" if run_name else f"Argo Workflow {workflow} has no {RUN_NAME_ANNOTATION} annotation"
