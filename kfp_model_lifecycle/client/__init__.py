"""Talking to the Kubeflow Model Registry: address and token, retries, clear errors, one connection object."""

from kfp_model_lifecycle.client.connection import RegistryConnection, Wire, connect_model_registry, to_wire
from kfp_model_lifecycle.client.failures import (
    describe_registry_error,
    is_transient_registry_error,
    registry_error_detail,
)
from kfp_model_lifecycle.client.retry import call_with_backoff
from kfp_model_lifecycle.client.settings import (
    RegistryAddress,
    RetryPolicy,
    parse_registry_url,
    resolve_registry_token,
    resolve_registry_url,
)
from kfp_model_lifecycle.client.updates import update_with_retry

__all__ = [
    "RegistryAddress",
    "RegistryConnection",
    "RetryPolicy",
    "Wire",
    "call_with_backoff",
    "connect_model_registry",
    "describe_registry_error",
    "is_transient_registry_error",
    "parse_registry_url",
    "registry_error_detail",
    "resolve_registry_token",
    "resolve_registry_url",
    "to_wire",
    "update_with_retry",
]
