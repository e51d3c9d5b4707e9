"""Collecting a component run's lineage in the pod: run ids and names, namespace, code version, dataset digests.

Like :mod:`.registry_client`, every function here is embedded into component pods with
``@dsl.component(additional_funcs=LINEAGE_FUNCTIONS)``: plain ``def`` functions, imports inside, no
module-level names.

Where each value comes from, first match wins (a literal ``{{$...}}`` -- an unsubstituted KFP placeholder -- or
an empty value counts as missing):

==============  ==================================================================================================
run id          the ``run_id`` input (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``); env ``KFP_RUN_ID``; the pod's label
                ``pipeline/runid`` read through the Kubernetes API (needs ``KFP_POD_NAME`` and RBAC "get pods")
run name        the ``run_name`` input (``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``); env ``KFP_RUN_NAME``; the annotation
                ``pipelines.kubeflow.org/run_name`` of the pod or of its Argo workflow (Kubernetes API)
pipeline name   the ``pipeline_name`` input; env ``KFP_PIPELINE_NAME``
task name       the ``task_name`` input (``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``); env ``KFP_TASK_NAME``
namespace       the ``namespace`` input; env ``POD_NAMESPACE`` (``kfp.kubernetes.use_field_path_as_env``); the
                service-account namespace file
run URL         ``kfp_ui_url`` input or env ``KML_KFP_UI_URL``, plus ``/#/runs/details/<run id>``
code version    the ``code_version`` input; ``model.metadata`` keys ``code_version``, ``git_commit``, ``git_sha``,
                ``commit``; CI/build env vars (``GIT_COMMIT``, ``GITHUB_SHA``, ``CI_COMMIT_SHA``, ...)
training image  the ``training_image`` input; ``model.metadata`` keys ``training_image``, ``image``; env
                ``KML_TRAINING_IMAGE``
==============  ==================================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_missing_value(value: Any) -> bool:
    """Whether a context value is unknown: None, empty, or an unsubstituted placeholder (text in double braces).

    (This function is embedded into component pods. KFP resolves double-brace placeholders in a component's
    command, and Argo its own, so pod code spells no double braces, not even in docstrings.)

    Args:
        value: The value as it reached the component.

    Returns:
        True when the value carries no information.
    """
    if value is None:
        return True
    text = str(value).strip()
    opening, closing = "{" * 2, "}" * 2
    return not text or (opening in text and closing in text)


def read_service_account_namespace(path: str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace") -> str:
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


def kubernetes_api_get(
    api_path: str,
    *,
    api_url: str = "",
    token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token",  # noqa: S107 - a path
    ca_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
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
    import json
    import os
    import ssl
    import time
    import urllib.error
    import urllib.request

    env = os.environ if env is None else env
    if not api_url:
        host = (env.get("KUBERNETES_SERVICE_HOST") or "").strip()
        port = (env.get("KUBERNETES_SERVICE_PORT") or "443").strip()
        if not host:
            raise LookupError("not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)")
        api_url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    if not api_url.startswith(("https://", "http://")):
        raise LookupError(f"Kubernetes API URL {api_url!r} is not http(s)")
    url = api_url.rstrip("/") + api_path
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) checked
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
            if exc.code in (401, 403):
                raise PermissionError(
                    f"Kubernetes API {api_path}: HTTP {exc.code}; the pod's service account may not read this object"
                ) from None
            if exc.code == 404:
                raise LookupError(f"Kubernetes API {api_path}: not found") from None
            last_error = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < max_attempts:
            time.sleep(0.2 * 2 ** (attempt - 1))
    raise ConnectionError(f"Kubernetes API {api_path}: {last_error}")


def read_kfp_pod_lineage(
    namespace: str,
    *,
    env: Mapping[str, str] | None = None,
    api_url: str = "",
    token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token",  # noqa: S107 - a path
    ca_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
) -> tuple[dict[str, str], list[str]]:
    """Run id and run name of the KFP run this pod belongs to, read from Kubernetes.

    The KFP backend labels every pod of a run with ``pipeline/runid`` and annotates the Argo workflow (and
    sometimes the pod) with ``pipelines.kubeflow.org/run_name``; the pod's name is in ``KFP_POD_NAME``.

    Args:
        namespace: The pod's namespace.
        env: Environment to read (default ``os.environ``).
        api_url: Kubernetes API base URL (default: from the in-cluster environment).
        token_path: Service-account token file.
        ca_path: API server CA bundle.

    Returns:
        ``({"run_id": ..., "run_name": ...} with what was found, [notes on what could not be read])``.
    """
    import os

    env = os.environ if env is None else env
    found: dict[str, str] = {}
    notes: list[str] = []
    pod_name = (env.get("KFP_POD_NAME") or "").strip()
    if not pod_name:
        return found, ["KFP_POD_NAME is not set (not a KFP pod), so pod labels were not read"]
    if not namespace:
        return found, ["the namespace is unknown, so pod labels were not read"]
    kwargs: dict[str, Any] = {"api_url": api_url, "token_path": token_path, "ca_path": ca_path, "env": env}
    try:
        pod = kubernetes_api_get(f"/api/v1/namespaces/{namespace}/pods/{pod_name}", **kwargs)
    except PermissionError:
        return found, [
            f"the service account may not 'get' pods in {namespace}, so the run id could not be read from the pod's"
            " labels (grant it, or pass the run placeholders -- register_model_with_lineage does)"
        ]
    except (LookupError, ConnectionError) as exc:
        return found, [f"could not read pod {pod_name}: {exc}"]
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if labels.get("pipeline/runid"):
        found["run_id"] = str(labels["pipeline/runid"])
    else:
        notes.append(f"pod {pod_name} has no pipeline/runid label")
    if annotations.get("pipelines.kubeflow.org/run_name"):
        found["run_name"] = str(annotations["pipelines.kubeflow.org/run_name"])
    workflow = labels.get("workflows.argoproj.io/workflow")
    if "run_name" not in found and workflow:
        try:
            wf = kubernetes_api_get(f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/{workflow}", **kwargs)
            run_name = ((wf.get("metadata") or {}).get("annotations") or {}).get("pipelines.kubeflow.org/run_name")
            if run_name:
                found["run_name"] = str(run_name)
        except PermissionError:
            notes.append(f"the service account may not 'get' Argo workflows in {namespace}, so no run name from it")
        except (LookupError, ConnectionError) as exc:
            notes.append(f"could not read workflow {workflow}: {exc}")
    return found, notes


def build_run_url(kfp_ui_url: str, run_id: str) -> str:
    """Link to a run in the KFP UI.

    Args:
        kfp_ui_url: Base URL of the KFP UI, e.g. ``https://kubeflow.example.com/_/pipeline`` (central dashboard)
            or ``http://ml-pipeline-ui.kubeflow:80`` (standalone).
        run_id: The run id.

    Returns:
        ``<kfp_ui_url>/#/runs/details/<run_id>``, or "" when either is missing.
    """
    if is_missing_value(kfp_ui_url) or is_missing_value(run_id):
        return ""
    return f"{str(kfp_ui_url).strip().rstrip('/')}/#/runs/details/{str(run_id).strip()}"


def find_code_version(
    explicit: str = "", model_metadata: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The code version (git commit) the model was trained from.

    Args:
        explicit: The ``code_version`` input.
        model_metadata: The model artifact's metadata.
        env: Environment to read (default ``os.environ``).

    Returns:
        ``(value, where it came from)``; ``("", "")`` when unknown.
    """
    import os

    env = os.environ if env is None else env
    if not is_missing_value(explicit):
        return str(explicit).strip(), "the code_version input"
    for key in ("code_version", "git_commit", "git_sha", "commit"):
        value = (model_metadata or {}).get(key)
        if not is_missing_value(value):
            return str(value).strip(), f"model.metadata[{key!r}]"
    for name in (
        "KML_CODE_VERSION",
        "GIT_COMMIT",
        "GIT_SHA",
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
        "BITBUCKET_COMMIT",
        "CIRCLE_SHA1",
        "TRAVIS_COMMIT",
        "BUILDKITE_COMMIT",
        "DRONE_COMMIT_SHA",
        "SEMAPHORE_GIT_SHA",
        "BUILD_SOURCEVERSION",
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "BUILD_VCS_NUMBER",
        "OPENSHIFT_BUILD_COMMIT",
        "SOURCE_COMMIT",
        "VCS_REF",
    ):
        value = env.get(name)
        if not is_missing_value(value):
            return str(value).strip(), f"the environment variable {name}"
    return "", ""


def find_training_image(
    explicit: str = "", model_metadata: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The container image the model was trained in, when known.

    Args:
        explicit: The ``training_image`` input.
        model_metadata: The model artifact's metadata (a training component can record its image there).
        env: Environment to read (default ``os.environ``).

    Returns:
        ``(value, where it came from)``; ``("", "")`` when unknown.
    """
    import os

    env = os.environ if env is None else env
    if not is_missing_value(explicit):
        return str(explicit).strip(), "the training_image input"
    for key in ("training_image", "image"):
        value = (model_metadata or {}).get(key)
        if not is_missing_value(value):
            return str(value).strip(), f"model.metadata[{key!r}]"
    value = env.get("KML_TRAINING_IMAGE")
    if not is_missing_value(value):
        return str(value).strip(), "the environment variable KML_TRAINING_IMAGE"
    return "", ""


def sha256_of_path(path: str) -> str:
    """SHA-256 of a file's content, or of a directory tree.

    For a directory the digest covers, for every regular file in sorted relative-path order, the relative path
    (``/``-separated), a NUL byte, the file size, a NUL byte and the content; so renames, moves and edits all
    change it.

    Args:
        path: A file or directory.

    Returns:
        The hex digest.

    Raises:
        OSError: When the path or a file in it cannot be read.
    """
    import hashlib
    import os

    digest = hashlib.sha256()

    def add_file(file_path: str) -> None:
        with open(file_path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)

    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in names:
                full = os.path.join(root, name)
                if os.path.isfile(full):
                    files.append((os.path.relpath(full, path).replace(os.sep, "/"), full))
        for rel, full in sorted(files):
            digest.update(rel.encode("utf-8") + b"\0" + str(os.path.getsize(full)).encode() + b"\0")
            add_file(full)
        return digest.hexdigest()
    add_file(path)
    return digest.hexdigest()


def describe_dataset_input(role: str, name: str, uri: str, path: str, metadata: Mapping[str, Any] | None) -> dict:
    """URI and content digest of one dataset input.

    Args:
        role: Which input it came from, e.g. ``train``.
        name: The KFP artifact name.
        uri: The artifact URI (object-store URI in a cluster).
        path: The local path the launcher made it available at.
        metadata: The artifact's metadata.

    Returns:
        ``role``, ``name``, ``uri``, ``sha256`` ("" when unreadable), ``problem`` (why no digest, or "").
    """
    info = {"role": role, "name": name or role, "uri": uri or "", "sha256": "", "problem": ""}
    if not path:
        info["problem"] = "no local path"
        return info
    try:
        info["sha256"] = sha256_of_path(path)
    except OSError as exc:
        info["problem"] = f"content not readable at {path} ({exc.strerror or exc})"
    return info


def collect_run_context(
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    *,
    env: Mapping[str, str] | None = None,
    sa_namespace_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
    query_kubernetes: bool = True,
    k8s_api_url: str = "",
    k8s_token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token",  # noqa: S107 - a path
    k8s_ca_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
) -> dict[str, Any]:
    """Who ran this component: the KFP run, pipeline, task and namespace, with fallbacks for missing inputs.

    Args:
        run_id: ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` as substituted by KFP (or a literal placeholder, or "").
        run_name: ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` as substituted.
        pipeline_name: The pipeline's name.
        task_name: ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` as substituted.
        namespace: The namespace, if passed explicitly.
        kfp_ui_url: Base URL of the KFP UI for the run link.
        env: Environment to read (default ``os.environ``).
        sa_namespace_path: The service-account namespace file.
        query_kubernetes: Read missing run id / run name from the pod's labels through the Kubernetes API.
        k8s_api_url: Kubernetes API base URL (default: in-cluster).
        k8s_token_path: Service-account token file for the Kubernetes API.
        k8s_ca_path: Kubernetes API CA bundle.

    Returns:
        ``run_id``, ``run_name``, ``pipeline_name``, ``task_name``, ``namespace``, ``run_url`` (each "" when
        unknown), ``sources`` (field -> where it came from), ``missing`` (field -> how to provide it) and
        ``notes`` (details of failed lookups).
    """
    import os

    env = os.environ if env is None else env
    context: dict[str, Any] = {"sources": {}, "missing": {}, "notes": []}
    given = {
        "run_id": (run_id, "KFP_RUN_ID"),
        "run_name": (run_name, "KFP_RUN_NAME"),
        "pipeline_name": (pipeline_name, "KFP_PIPELINE_NAME"),
        "task_name": (task_name, "KFP_TASK_NAME"),
        "namespace": (namespace, "POD_NAMESPACE"),
    }
    for field, (value, env_name) in given.items():
        context[field] = ""
        if not is_missing_value(value):
            context[field] = str(value).strip()
            context["sources"][field] = f"the {field} input"
        elif not is_missing_value(env.get(env_name)):
            context[field] = str(env.get(env_name)).strip()
            context["sources"][field] = f"the environment variable {env_name}"
    if not context["namespace"]:
        ns = read_service_account_namespace(sa_namespace_path)
        if ns:
            context["namespace"] = ns
            context["sources"]["namespace"] = "the service-account namespace file"
    if query_kubernetes and (not context["run_id"] or not context["run_name"]):
        found, notes = read_kfp_pod_lineage(
            context["namespace"], env=env, api_url=k8s_api_url, token_path=k8s_token_path, ca_path=k8s_ca_path
        )
        context["notes"].extend(notes)
        for field in ("run_id", "run_name"):
            if not context[field] and found.get(field):
                context[field] = found[field]
                context["sources"][field] = "the pod's labels/annotations (Kubernetes API)"
    ui_url = kfp_ui_url if not is_missing_value(kfp_ui_url) else (env.get("KML_KFP_UI_URL") or "")
    context["run_url"] = build_run_url(ui_url, context["run_id"])
    if context["run_url"]:
        context["sources"]["run_url"] = "kfp_ui_url" if not is_missing_value(kfp_ui_url) else "KML_KFP_UI_URL"
    hints = {
        "run_id": "pass dsl.PIPELINE_JOB_ID_PLACEHOLDER as run_id (register_model_with_lineage does), or let the"
        " pod's service account 'get' pods so it is read from the pod label pipeline/runid",
        "run_name": "pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER as run_name (register_model_with_lineage does)",
        "pipeline_name": "pass pipeline_name (register_model_with_lineage fills it in when compiling)",
        "task_name": "pass dsl.PIPELINE_TASK_NAME_PLACEHOLDER as task_name (register_model_with_lineage does)",
        "namespace": "use kfp.kubernetes.use_field_path_as_env(task, 'POD_NAMESPACE', 'metadata.namespace')"
        " (register_model_with_lineage does); in a pod the service-account file is read too",
        "run_url": "set kfp_ui_url (or the environment variable KML_KFP_UI_URL) to the KFP UI's base URL"
        if context["run_id"]
        else "needs the run id",
    }
    for field, hint in hints.items():
        if not context[field]:
            context["missing"][field] = hint
    return context


LINEAGE_FUNCTIONS = [
    is_missing_value,
    read_service_account_namespace,
    kubernetes_api_get,
    read_kfp_pod_lineage,
    build_run_url,
    find_code_version,
    find_training_image,
    sha256_of_path,
    describe_dataset_input,
    collect_run_context,
]
"""Every pod helper of this module, for ``@dsl.component(additional_funcs=...)``."""
