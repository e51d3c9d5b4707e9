"""The inputs of a deployment, checked up front.

:class:`DeploySettings` says what the InferenceService looks like, :class:`RolloutOptions` how it rolls out.
KFP delivers numbers as ints or floats (``10.0``) and leaves optional inputs as None, "" or -1; every check accepts
those and rejects anything else -- text where a number is expected, a string where a dict is expected, a number
where text is expected -- with a message naming the input and what it takes, repeating at most
:data:`ECHO_LIMIT` characters of the value.
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

ECHO_LIMIT = 80
"""Characters of a rejected value an error message repeats (the rest is counted, not echoed)."""
_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_KEY_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_RESOURCE_KEYS = ("requests", "limits", "claims")


def shown(value: Any, limit: int = ECHO_LIMIT) -> str:
    """A rejected value as an error message shows it: its repr, cut after ``limit`` characters.

    Args:
        value: The value.
        limit: The most characters shown.

    Returns:
        e.g. ``'abc'`` or ``'aaaa...' (10000 characters)``.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as text"
    return f"{text[:limit]}... ({size})"


def check_text(value: Any, what: str, example: str = "") -> str:
    """An optional text input: "" for None, else the text stripped; anything but text is refused.

    Args:
        value: The input.
        what: Its name, for messages.
        example: An example of a valid value.

    Returns:
        The text.

    Raises:
        InvalidInputError: For a number, a list, a dict...
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        hint = f", e.g. {what}={example!r}" if example else ""
        raise InvalidInputError(f"{what} must be text, got {type(value).__name__} {shown(value)}: pass a string{hint}")
    return value.strip()


def check_flag(value: Any, what: str) -> bool:
    """A yes/no input: only ``True`` or ``False`` (the text ``"false"`` would count as yes).

    Args:
        value: The input.
        what: Its name, for messages.

    Returns:
        The flag.

    Raises:
        InvalidInputError: For anything else.
    """
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be true or false, got {type(value).__name__} {shown(value)}")
    return value


def _number(value: Any, what: str, fix: str) -> float:
    """A numeric input: an int or a float (KFP delivers 10 as 10 or 10.0), never text or a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{what} must be a number, got {type(value).__name__} {shown(value)}: {fix}")
    return float(value)


def normalize_deployment_mode(mode: str) -> DeploymentMode:
    """The KServe deployment mode annotation value for a user's choice.

    Args:
        mode: ``Serverless`` (alias ``Knative``) or ``RawDeployment`` (alias ``Standard``), any case.

    Returns:
        ``Serverless`` or ``RawDeployment``.

    Raises:
        InvalidInputError: For anything else.
    """
    key = (check_text(mode, "deployment_mode", "Serverless") or "Serverless").lower().replace("_", "").replace("-", "")
    if key not in MODE_ALIASES:
        raise InvalidInputError(
            f"deployment_mode {shown(mode)} is not a KServe deployment mode: use 'Serverless' (Knative; supports"
            " canary rollouts) or 'RawDeployment' (plain Deployment; also called 'Standard')"
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
    text = (check_text(mode, "storage_uri_mode", "artifact") or "artifact").lower().replace("_", "-")
    if text not in set(StorageUriMode):
        raise InvalidInputError(
            f"storage_uri_mode {shown(mode)} is not supported: use 'artifact' (the model artifact's URI) or"
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
    text = check_text(protocol_version, "protocol_version", "v2").lower()
    if not text:
        return None
    if text not in set(ProtocolVersion):
        known = ", ".join(p.value for p in ProtocolVersion)
        raise InvalidInputError(f"protocol_version {shown(protocol_version)} is not one of {known} (or empty)")
    return ProtocolVersion(text)


def check_canary_percent(value: Any) -> int:
    """Validate a canary traffic percent.

    Args:
        value: An integer 0..100 (KFP may deliver it as a float: 10.0). 0 and 100 mean no canary; None is 0.

    Returns:
        The percent.

    Raises:
        InvalidInputError: For text, a bool, a non-integer or a value outside 0..100 (KServe does not check it).
    """
    if value is None:
        return 0
    number = _number(value, "canary_percent", "pass an integer from 0 to 100, e.g. canary_percent=10")
    if number != int(number) or not 0 <= number <= 100:
        raise InvalidInputError(
            f"canary_percent {shown(value)} must be an integer from 0 to 100 (the share of traffic the new revision"
            " gets before it is promoted; 0 or 100 roll out at once)"
        )
    return int(number)


def check_optional_count(value: Any, what: str) -> int | None:
    """Validate an optional non-negative integer input such as ``min_replicas``.

    Args:
        value: None (or a negative number) for "not set", else an integer (KFP may pass a float: 2.0).
        what: The input's name, for messages.

    Returns:
        The integer or None.

    Raises:
        InvalidInputError: For text, a bool or a non-integer.
    """
    if value is None:
        return None
    number = _number(value, what, f"pass a whole number, e.g. {what}=1 (or leave it unset)")
    if number != int(number):
        raise InvalidInputError(f"{what} {shown(value)} must be a whole number")
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
    if resources is None or (isinstance(resources, Mapping) and not resources):
        return None
    if not isinstance(resources, Mapping):
        raise InvalidInputError(
            f"resources must be a dict, got {type(resources).__name__} {shown(resources)}: pass 'requests' and/or"
            " 'limits', each mapping resource names to quantities, e.g. {'requests': {'cpu': 1, 'memory': '2Gi'},"
            " 'limits': {'memory': '2Gi'}}"
        )
    unknown = sorted(shown(str(k), 40).strip("'") for k in resources if k not in _RESOURCE_KEYS)
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
        raise InvalidInputError(
            f"resources.{key} must map resource names to quantities, got {shown(amounts)}: e.g. {{'cpu': '500m'}}"
        )
    clean: dict[str, str] = {}
    for res_name, amount in amounts.items():
        if isinstance(amount, bool) or not isinstance(amount, str | int | float):
            raise InvalidInputError(
                f"resources.{key}.{shown(res_name, 40)} = {shown(amount)} is not a quantity such as '500m' or '2Gi'"
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
    if values is None or (isinstance(values, Mapping) and not values):
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"{what} must be a dict of strings, got {type(values).__name__} {shown(values)}: e.g. {{'team': 'fraud'}}"
        )
    result: dict[str, str] = {}
    for raw_key, value in values.items():
        key = _check_metadata_key(str(raw_key), what)
        if isinstance(value, Mapping | list | tuple | set):
            raise InvalidInputError(f"{what}[{shown(key, 40)}] must be a string, got {type(value).__name__}")
        text = "" if value is None else str(value)
        if what == "labels" and text and (len(text) > 63 or not _KEY_NAME.fullmatch(text)):
            raise InvalidInputError(
                f"label {shown(key, 40)}={shown(text)} has an invalid value: at most 63 letters, digits, '-', '_' or"
                " '.', starting and ending with a letter or digit (put longer text in annotations)"
            )
        result[key] = text
    return result


def _check_metadata_key(key: str, what: str) -> str:
    prefix, _, name = key.rpartition("/")
    if not _KEY_NAME.fullmatch(name) or (prefix and (len(prefix) > 253 or not _KEY_PREFIX.fullmatch(prefix))):
        raise InvalidInputError(
            f"{what} key {shown(key, 60)} is not a valid Kubernetes key: [prefix/]name, where name has at most 63"
            " letters, digits, '-', '_' or '.', and the optional prefix is a DNS subdomain"
        )
    if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES):
        raise InvalidInputError(
            f"{what} key {shown(key, 60)} is set by deploy_model itself (the deployment mode, registry links and"
            " lineage): use the matching input (e.g. deployment_mode) instead"
        )
    return key


def check_timeout_seconds(timeout_seconds: Any) -> float:
    """Validate a timeout.

    Args:
        timeout_seconds: A positive number of seconds (an int or a float).

    Returns:
        The timeout in seconds.

    Raises:
        InvalidInputError: For anything that is not a positive number.
    """
    timeout = _number(timeout_seconds, "timeout_seconds", "pass a number of seconds, e.g. timeout_seconds=600")
    if not timeout > 0 or timeout == float("inf"):
        raise InvalidInputError(f"timeout_seconds must be a positive number of seconds, got {shown(timeout_seconds)}")
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
            runtime=check_text(runtime, "runtime", "kserve-sklearnserver"),
            protocol_version=protocol,
            resources=checked_resources,
            min_replicas=low,
            max_replicas=high,
            service_account_name=check_text(service_account_name, "service_account_name", "model-reader"),
            labels=check_metadata_map(labels, "labels"),
            annotations=check_metadata_map(annotations, "annotations"),
            registry_service_name=check_text(registry_service_name, "registry_service_name", "model-registry-service"),
            registry_namespace=check_text(registry_namespace, "registry_namespace", "kubeflow"),
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


MAX_REFERENCE_LENGTH = 512
"""A model reference longer than this cannot name anything in the registry (names are at most ~250 characters)."""


def check_job_inputs(texts: Mapping[str, Any], flags: Mapping[str, Any] | None = None) -> None:
    """Check the plain inputs of a deployment job before anything is read or written.

    Args:
        texts: Input name -> value for inputs that take text (None and "" allowed).
        flags: Input name -> value for yes/no inputs.

    Raises:
        InvalidInputError: Naming the first input of the wrong type.
    """
    for what, value in texts.items():
        check_text(value, what)
    for what, value in (flags or {}).items():
        check_flag(value, what)


def check_model_reference(value: Any) -> str:
    """A model reference (``name:VERSION``, ``name@ALIAS``, ``name``...): text, not empty, of a possible length.

    Args:
        value: The input.

    Returns:
        The reference, stripped.

    Raises:
        InvalidInputError: For anything else.
    """
    text = check_text(value, "model_reference", "iris:1.0.0")
    if not text:
        raise InvalidInputError("model_reference is empty: pass 'name:VERSION', 'name@ALIAS' or 'name'")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidInputError(
            f"model_reference {shown(text)} is longer than any registry name allows ({MAX_REFERENCE_LENGTH}"
            " characters at most): pass 'name:VERSION', 'name@ALIAS' or 'name'"
        )
    return text
