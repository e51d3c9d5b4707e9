"""The inputs of a deployment, checked up front.

:class:`DeploySettings` says what the InferenceService looks like, :class:`RolloutOptions` how it rolls out.
KFP delivers numbers as floats or text and leaves optional inputs as None, "" or -1; every check accepts those and
rejects anything else with a message naming the input and what it takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    MODE_ALIASES,
    RESERVED_KEYS,
    RESERVED_PREFIXES,
    DeploymentMode,
    ProtocolVersion,
    StorageUriMode,
)
from kfp_model_lifecycle.errors import InvalidInputError

_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_KEY_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_RESOURCE_KEYS = ("requests", "limits", "claims")


def normalize_deployment_mode(mode: str) -> DeploymentMode:
    """The KServe deployment mode annotation value for a user's choice.

    Args:
        mode: ``Serverless`` (alias ``Knative``) or ``RawDeployment`` (alias ``Standard``), any case.

    Returns:
        ``Serverless`` or ``RawDeployment``.

    Raises:
        InvalidInputError: For anything else.
    """
    key = (mode or "Serverless").strip().lower().replace("_", "").replace("-", "")
    if key not in MODE_ALIASES:
        raise InvalidInputError(
            f"deployment_mode {mode!r} is not a KServe deployment mode: use 'Serverless' (Knative; supports canary"
            " rollouts) or 'RawDeployment' (plain Deployment; also called 'Standard')"
        )
    return MODE_ALIASES[key]


def check_storage_uri_mode(mode: str) -> StorageUriMode:
    """Validate where the storage URI comes from.

    Args:
        mode: ``artifact`` or ``model-registry`` (any case, ``_`` for ``-``; "" for ``artifact``).

    Returns:
        The mode.

    Raises:
        InvalidInputError: For anything else.
    """
    text = (mode or "artifact").strip().lower().replace("_", "-")
    if text not in set(StorageUriMode):
        raise InvalidInputError(
            f"storage_uri_mode {mode!r} is not supported: use 'artifact' (the model artifact's URI) or"
            " 'model-registry' (model-registry://<model>/<version>, needs the registry's storage initializer)"
        )
    return StorageUriMode(text)


def check_protocol_version(protocol_version: str) -> ProtocolVersion | None:
    """Validate the inference protocol.

    Args:
        protocol_version: ``v1``, ``v2`` or ``grpc-v2`` (any case; "" for the runtime's default).

    Returns:
        The protocol, or None for the runtime's default.

    Raises:
        InvalidInputError: For anything else.
    """
    text = (protocol_version or "").strip().lower()
    if not text:
        return None
    if text not in set(ProtocolVersion):
        known = ", ".join(p.value for p in ProtocolVersion)
        raise InvalidInputError(f"protocol_version {protocol_version!r} is not one of {known}")
    return ProtocolVersion(text)


def check_canary_percent(value: Any) -> int:
    """Validate a canary traffic percent.

    Args:
        value: An integer 0..100 (KFP may deliver it as a float or text). 0 and 100 mean no canary.

    Returns:
        The percent.

    Raises:
        InvalidInputError: For a non-integer or a value outside 0..100 (KServe itself does not check it).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"canary_percent {value!r} is not a number: use an integer from 0 to 100") from None
    if isinstance(value, bool) or number != int(number) or not 0 <= number <= 100:
        raise InvalidInputError(
            f"canary_percent {value!r} must be an integer from 0 to 100 (the share of traffic the new revision gets"
            " before it is promoted; 0 or 100 roll out at once)"
        )
    return int(number)


def check_optional_count(value: Any, what: str) -> int | None:
    """Validate an optional non-negative integer input such as ``min_replicas``.

    Args:
        value: None (or a negative number, or "") for "not set", else an integer (KFP may pass a float).
        what: The input's name, for messages.

    Returns:
        The integer or None.

    Raises:
        InvalidInputError: For a non-integer.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} {value!r} is not a number: use a whole number (or leave it unset)") from None
    if isinstance(value, bool) or number != int(number):
        raise InvalidInputError(f"{what} {value!r} must be a whole number")
    return None if number < 0 else int(number)


def check_replicas(min_replicas: Any, max_replicas: Any) -> tuple[int | None, int | None]:
    """Validate the replica bounds together.

    Args:
        min_replicas: See :func:`check_optional_count` (0 allows scale to zero in Serverless mode).
        max_replicas: See :func:`check_optional_count` (0 means KServe's default: no bound).

    Returns:
        ``(min, max)``, each None when unset.

    Raises:
        InvalidInputError: For non-integers, or a minimum above a (non-zero) maximum.
    """
    low = check_optional_count(min_replicas, "min_replicas")
    high = check_optional_count(max_replicas, "max_replicas")
    if low is not None and high is not None and high and low > high:
        raise InvalidInputError(f"min_replicas ({low}) is larger than max_replicas ({high})")
    return low, high


def check_resources(resources: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Validate container resources for the predictor (``requests``/``limits`` of cpu, memory, GPUs...).

    Args:
        resources: ``requests`` and/or ``limits``, each mapping resource names to quantities (``cpu: 500m``,
            ``memory: 1Gi``); numbers are turned into quantity strings (KFP delivers ``1`` as ``1.0``).

    Returns:
        The resources, or None when empty.

    Raises:
        InvalidInputError: For unknown keys (``request`` instead of ``requests``...) or non-scalar quantities.
    """
    if not resources:
        return None
    if not isinstance(resources, Mapping):
        raise InvalidInputError(
            "resources must be a dict with 'requests' and/or 'limits', each mapping resource names to quantities"
            " (e.g. requests cpu: 1, memory: 2Gi; limits memory: 2Gi)"
        )
    unknown = sorted(str(k) for k in resources if k not in _RESOURCE_KEYS)
    if unknown:
        raise InvalidInputError(
            f"resources has unknown key(s) {unknown}: Kubernetes resources take 'requests' and 'limits' (and"
            " 'claims'), each mapping resource names to quantities such as cpu: 500m or memory: 2Gi"
        )
    result: dict[str, Any] = {}
    for key in ("requests", "limits"):
        if resources.get(key) is not None:
            result[key] = _check_quantities(resources[key], key)
    if resources.get("claims") is not None:
        result["claims"] = _check_claims(resources["claims"])
    return result or None


def _check_quantities(amounts: Any, key: str) -> dict[str, str]:
    if not isinstance(amounts, Mapping):
        raise InvalidInputError(f"resources.{key} must map resource names to quantities, e.g. cpu: 500m")
    clean: dict[str, str] = {}
    for res_name, amount in amounts.items():
        if isinstance(amount, bool) or not isinstance(amount, str | int | float):
            raise InvalidInputError(
                f"resources.{key}.{res_name} = {amount!r} is not a quantity such as '500m' or '2Gi'"
            )
        if isinstance(amount, float) and amount == int(amount):
            amount = int(amount)
        clean[str(res_name)] = str(amount).strip()
    return clean


def _check_claims(claims: Any) -> list[dict[str, Any]]:
    if not isinstance(claims, list) or not all(isinstance(c, Mapping) and c.get("name") for c in claims):
        raise InvalidInputError('resources.claims must be a list like [{"name": "gpu"}]')
    return [dict(c) for c in claims]


def check_metadata_map(values: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    """Validate extra labels or annotations.

    Args:
        values: Key -> value.
        what: ``labels`` or ``annotations``.

    Returns:
        The map with string values.

    Raises:
        InvalidInputError: For invalid keys or label values, or keys this component manages itself.
    """
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{what} must be a dict of strings, e.g. team: fraud")
    result: dict[str, str] = {}
    for raw_key, value in values.items():
        key = _check_metadata_key(str(raw_key), what)
        text = "" if value is None else str(value)
        if what == "labels" and text and (len(text) > 63 or not _KEY_NAME.fullmatch(text)):
            raise InvalidInputError(
                f"label {key}={text!r} has an invalid value: at most 63 letters, digits, '-', '_' or '.', starting"
                " and ending with a letter or digit (put longer text in annotations)"
            )
        result[key] = text
    return result


def _check_metadata_key(key: str, what: str) -> str:
    prefix, _, name = key.rpartition("/")
    if not _KEY_NAME.fullmatch(name) or (prefix and (len(prefix) > 253 or not _KEY_PREFIX.fullmatch(prefix))):
        raise InvalidInputError(
            f"{what} key {key!r} is not a valid Kubernetes key: [prefix/]name, where name has at most 63"
            " letters, digits, '-', '_' or '.', and the optional prefix is a DNS subdomain"
        )
    if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES):
        raise InvalidInputError(
            f"{what} key {key!r} is set by deploy_model itself (the deployment mode, registry links and"
            " lineage): use the matching input (e.g. deployment_mode) instead"
        )
    return key


def check_timeout_seconds(timeout_seconds: Any) -> float:
    """Validate a timeout.

    Args:
        timeout_seconds: A positive number of seconds (KFP may deliver text).

    Returns:
        The timeout in seconds.

    Raises:
        InvalidInputError: For anything that is not a positive number.
    """
    try:
        timeout = float(timeout_seconds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"timeout_seconds {timeout_seconds!r} is not a number of seconds") from None
    if timeout <= 0:
        raise InvalidInputError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
    return timeout


@dataclass(frozen=True)
class DeploySettings:
    """What the InferenceService of a deployment looks like, apart from the model version it serves.

    Build it with :meth:`from_inputs`, which checks every value.

    Attributes:
        deployment_mode: KServe's deployment mode.
        storage_uri_mode: Where ``storageUri`` comes from.
        runtime: ServingRuntime name ("" lets KServe pick one for the format).
        protocol_version: The inference protocol (None for the runtime's default).
        resources: Predictor container resources (None for none).
        min_replicas: Minimum replicas (None: KServe's default; 0 allows scale to zero in Serverless mode).
        max_replicas: Maximum replicas (None: KServe's default).
        service_account_name: Service account of the predictor pod ("" for the artifact's).
        labels: Extra labels.
        annotations: Extra annotations.
        registry_service_name: The registry's Kubernetes service name ("" to read it from the registry URL).
        registry_namespace: The registry's namespace ("" to read it from the registry URL).
    """

    deployment_mode: DeploymentMode = DeploymentMode.SERVERLESS
    storage_uri_mode: StorageUriMode = StorageUriMode.ARTIFACT
    runtime: str = ""
    protocol_version: ProtocolVersion | None = None
    resources: dict[str, Any] | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    service_account_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    registry_service_name: str = ""
    registry_namespace: str = ""

    @classmethod
    def from_inputs(
        cls,
        *,
        deployment_mode: str = "Serverless",
        storage_uri_mode: str = "artifact",
        runtime: str = "",
        protocol_version: str = "",
        resources: Mapping[str, Any] | None = None,
        min_replicas: Any = None,
        max_replicas: Any = None,
        service_account_name: str = "",
        labels: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        registry_service_name: str = "",
        registry_namespace: str = "",
    ) -> DeploySettings:
        """Check the component's inputs and keep them in their normal form.

        Args:
            deployment_mode: ``Serverless`` or ``RawDeployment`` (any accepted alias).
            storage_uri_mode: ``artifact`` or ``model-registry``.
            runtime: ServingRuntime name.
            protocol_version: ``v1``, ``v2``, ``grpc-v2`` or "".
            resources: See :func:`check_resources`.
            min_replicas: None or negative for unset.
            max_replicas: None or negative for unset.
            service_account_name: Predictor service account.
            labels: Extra labels.
            annotations: Extra annotations.
            registry_service_name: The registry's service name for the labels.
            registry_namespace: The registry's namespace for the labels.

        Returns:
            The settings.

        Raises:
            InvalidInputError: Naming the first input that is not valid and what it takes.
        """
        mode = normalize_deployment_mode(deployment_mode)
        uri_mode = check_storage_uri_mode(storage_uri_mode)
        protocol = check_protocol_version(protocol_version)
        checked_resources = check_resources(resources)
        low, high = check_replicas(min_replicas, max_replicas)
        return cls(
            deployment_mode=mode,
            storage_uri_mode=uri_mode,
            runtime=(runtime or "").strip(),
            protocol_version=protocol,
            resources=checked_resources,
            min_replicas=low,
            max_replicas=high,
            service_account_name=(service_account_name or "").strip(),
            labels=check_metadata_map(labels, "labels"),
            annotations=check_metadata_map(annotations, "annotations"),
            registry_service_name=(registry_service_name or "").strip(),
            registry_namespace=(registry_namespace or "").strip(),
        )


@dataclass(frozen=True)
class RolloutOptions:
    """How a rollout proceeds.

    Attributes:
        canary_percent: Share of traffic the new revision gets before promotion (0 or 100: at once).
        timeout_seconds: Bound for the rollout (and again for an automatic rollback).
    """

    canary_percent: int = 0
    timeout_seconds: float = 600.0

    @classmethod
    def from_inputs(cls, *, canary_percent: Any = 0, timeout_seconds: Any = 600) -> RolloutOptions:
        """Check the inputs.

        Args:
            canary_percent: 0..100 (see :func:`check_canary_percent`).
            timeout_seconds: A positive number of seconds.

        Returns:
            The options.

        Raises:
            InvalidInputError: For values outside those ranges.
        """
        percent = check_canary_percent(canary_percent)
        return cls(canary_percent=percent, timeout_seconds=check_timeout_seconds(timeout_seconds))
