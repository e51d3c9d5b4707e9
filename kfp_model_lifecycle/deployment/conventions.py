"""The names deploying to KServe uses: the KServe API, labels and annotations, modes, registry states, env knobs.

Labels under ``modelregistry.kubeflow.org/`` are the ones the Model Registry's InferenceService controller reads
(kubeflow/model-registry); annotations under :data:`ANNOTATION_PREFIX` are this package's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

# --- The KServe API ---------------------------------------------------------------------------------------------

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"
KSERVE_PLURAL = "inferenceservices"
KSERVE_KIND = "InferenceService"
KSERVE_API_VERSION = f"{KSERVE_GROUP}/{KSERVE_VERSION}"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
"""The annotation that selects KServe's deployment mode."""


class DeploymentMode(StrEnum):
    """KServe's deployment modes, as this package writes them into :data:`MODE_ANNOTATION`.

    The legacy names are written because every KServe version reads them; current KServe calls them ``Knative``
    and ``Standard`` (and writes those into ``status.deploymentMode``): :data:`MODE_ALIASES` accepts all four.
    """

    SERVERLESS = "Serverless"
    RAW_DEPLOYMENT = "RawDeployment"


MODE_ALIASES: Mapping[str, DeploymentMode] = MappingProxyType(
    {
        "serverless": DeploymentMode.SERVERLESS,
        "knative": DeploymentMode.SERVERLESS,
        "rawdeployment": DeploymentMode.RAW_DEPLOYMENT,
        "raw": DeploymentMode.RAW_DEPLOYMENT,
        "standard": DeploymentMode.RAW_DEPLOYMENT,
    }
)
"""A user's spelling (lower case, without ``-`` and ``_``) -> the mode."""


class ProtocolVersion(StrEnum):
    """Inference protocols a predictor may speak (``spec.predictor.model.protocolVersion``)."""

    V1 = "v1"
    V2 = "v2"
    GRPC_V2 = "grpc-v2"


class StorageUriMode(StrEnum):
    """Where the predictor's ``storageUri`` comes from."""

    ARTIFACT = "artifact"
    """The model artifact's URI."""
    MODEL_REGISTRY = "model-registry"
    """``model-registry://<model>/<version>``, for clusters with the registry's storage initializer."""


FAILED_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
"""``status.modelStatus.transitionStatus`` values that mean the current spec will not become Ready."""
PREDICTOR_DEPLOYMENT_SUFFIX = "-predictor"
"""RawDeployment/Standard: KServe runs the predictor as the ``apps/v1`` Deployment ``<name>-predictor``."""
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
"""The reason of a Deployment's ``Progressing=False`` condition when new pods did not become available in time."""
UNPROPAGATED_ANNOTATIONS = frozenset(
    {
        "autoscaling.knative.dev/min-scale",
        "autoscaling.knative.dev/max-scale",
        "internal.serving.kserve.io/storage-initializer-sourceuri",
        "kubectl.kubernetes.io/last-applied-configuration",
        "modelFormat",
    }
)
"""Annotations KServe does not copy into the revision / pod template (its ``ServiceAnnotationDisallowedList``)."""

# --- Labels and annotations -------------------------------------------------------------------------------------

LABEL_REGISTERED_MODEL_ID = "modelregistry.kubeflow.org/registered-model-id"
LABEL_MODEL_VERSION_ID = "modelregistry.kubeflow.org/model-version-id"
LABEL_INFERENCE_SERVICE_ID = "modelregistry.kubeflow.org/inference-service-id"
LABEL_REGISTRY_NAME = "modelregistry.kubeflow.org/name"
LABEL_REGISTRY_NAMESPACE = "modelregistry.kubeflow.org/namespace"
ANNOTATION_REGISTRY_URL = "modelregistry.kubeflow.org/url"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kfp-model-lifecycle"

ANNOTATION_PREFIX = "kfp-model-lifecycle/"
ANNOTATION_MODEL = ANNOTATION_PREFIX + "model"
ANNOTATION_VERSION = ANNOTATION_PREFIX + "version"
ANNOTATION_REFERENCE = ANNOTATION_PREFIX + "reference"
ANNOTATION_RUN_ID = ANNOTATION_PREFIX + "run-id"
ANNOTATION_RUN_NAME = ANNOTATION_PREFIX + "run-name"
ANNOTATION_RUN_URL = ANNOTATION_PREFIX + "run-url"
ANNOTATION_MANAGED = ANNOTATION_PREFIX + "managed-metadata"
"""JSON list of the label and annotation keys deploy_model wrote (so a later deploy can remove the unwanted ones)."""
ANNOTATION_ROLLOUT = ANNOTATION_PREFIX + "rollout"
"""The key of the rollout that last applied the spec (KServe copies it into the revision / pod template, so a
wait can tell the predictor Deployment that carries this rollout from an older one)."""
ANNOTATION_CREATED_BY = ANNOTATION_PREFIX + "created-by"
"""The key of the rollout that created the InferenceService (set on create only, never patched): a create whose
answer was lost, or a retried task, recognises its own object by it, and a rollback deletes only what it created."""
REGISTRY_FINALIZER = "modelregistry.kubeflow.org/finalizer"
"""The finalizer the Model Registry's InferenceService controller adds; patches never touch finalizers."""

LINEAGE_ANNOTATIONS = (
    (ANNOTATION_RUN_ID, "run_id"),
    (ANNOTATION_RUN_NAME, "run_name"),
    (ANNOTATION_RUN_URL, "run_url"),
)
"""Annotation -> the ``RunContext`` field it holds."""

RESERVED_PREFIXES = ("modelregistry.kubeflow.org/", ANNOTATION_PREFIX)
RESERVED_KEYS = frozenset({MODE_ANNOTATION, LABEL_MANAGED_BY})
"""Label/annotation keys users may not set themselves (they have inputs of their own)."""

# --- Names ------------------------------------------------------------------------------------------------------

DNS_LABEL_MAX = 63
HOST_SUFFIX = "-predictor-"
"""KServe's default host is ``<name>-predictor-<namespace>.<domain>``."""
REVISION_SERVICE_SUFFIX = "-predictor-00001-private"
"""Knative names the first revision's private service ``<name>-predictor-00001-private``."""

# --- RBAC -------------------------------------------------------------------------------------------------------

RBAC_FILE = "components/deploy_model/rbac.yaml"
RBAC_VERBS = ("get", "create", "patch")
"""The verbs on InferenceServices every deployment needs, checked before anything changes."""
APPS_GROUP = "apps"
DEPLOYMENTS = "deployments"
"""RawDeployment/Standard: readiness reads the predictor Deployment (``get`` on ``deployments.apps``)."""

# --- Registry records -------------------------------------------------------------------------------------------

PROPERTY_PREFIX = "kml_"
"""Prefix of the customProperties this package writes on InferenceService records and ServeModels."""


class Outcome(StrEnum):
    """What a recorded rollout did (``kml_outcome``)."""

    DEPLOYED = "deployed"
    FAILED = "failed"
    UNDEPLOYED = "undeployed"


class DesiredState(StrEnum):
    """``desiredState`` of the registry's InferenceService record."""

    DEPLOYED = "DEPLOYED"
    UNDEPLOYED = "UNDEPLOYED"


class ServeState(StrEnum):
    """``lastKnownState`` of a ServeModel (one rollout)."""

    RUNNING = "RUNNING"
    FAILED = "FAILED"
    COMPLETE = "COMPLETE"


# --- Environment knobs ------------------------------------------------------------------------------------------

ENV_POLL_SECONDS = "KML_DEPLOY_POLL_SECONDS"
"""Status poll interval in seconds (default :data:`DEFAULT_POLL_SECONDS`)."""
ENV_PROGRESS_SECONDS = "KML_DEPLOY_PROGRESS_SECONDS"
"""Progress log interval in seconds (default :data:`DEFAULT_PROGRESS_SECONDS`)."""
ENV_MAX_ATTEMPTS = "KML_K8S_MAX_ATTEMPTS"
"""Attempts for transient Kubernetes API errors (default :data:`DEFAULT_MAX_ATTEMPTS`)."""
ENV_BACKOFF = "KML_K8S_BACKOFF_SECONDS"
"""First delay before retrying a transient Kubernetes API error, doubling up to 16 times it (default 0.5)."""
DEFAULT_BACKOFF_SECONDS = 0.5
ENV_REQUEST_TIMEOUT = "KML_K8S_TIMEOUT_SECONDS"
"""Client-side timeout of one Kubernetes API request in seconds (default :data:`REQUEST_TIMEOUT_SECONDS`)."""
DEFAULT_POLL_SECONDS = 2.0
DEFAULT_PROGRESS_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 5
REQUEST_TIMEOUT_SECONDS = 30.0
"""Default client-side timeout of one Kubernetes API request."""
ROLLOUT_EXTERNAL_ID = "kml-rollout:{record}:{key}:{outcome}"
"""``externalId`` of a rollout's ServeModel: one record per rollout and outcome, whatever is retried."""
