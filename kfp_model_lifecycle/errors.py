"""The domain exceptions of kfp-model-lifecycle.

Every error the package raises on purpose is a :class:`LifecycleError`, and also the built-in exception a
caller would expect (``ValueError`` for bad input, ``LookupError`` for something that does not exist,
``PermissionError`` for refused access, ``ConnectionError`` for an unreachable service), so both
``except LifecycleError`` and ``except ValueError`` work. Messages name the problem and the fix; they never
contain a token.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base class of every error kfp-model-lifecycle raises on purpose."""


class InvalidInputError(LifecycleError, ValueError):
    """A parameter has a value the operation cannot use; the message names the parameter and what is expected."""


class NotFoundError(LifecycleError, LookupError):
    """A model, version, alias or record does not exist; the message lists what does."""


class TransitionRefusedError(LifecycleError, ValueError):
    """A stage transition is not allowed by the model's policy."""


class ApprovalRequiredError(LifecycleError, PermissionError):
    """A promotion to production needs an approval the version does not have."""


class ConcurrencyError(LifecycleError, RuntimeError):
    """Too many concurrent writers won the race for the same record; nothing was changed by this attempt."""


class RegistryError(LifecycleError, RuntimeError):
    """A call to the Model Registry failed (after retries for transient failures).

    Attributes:
        status: The HTTP status, or None for network and TLS failures.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryAuthError(RegistryError, PermissionError):
    """The registry (or the proxy in front of it) refused the credentials: HTTP 401 or 403."""


class RegistryRequestError(RegistryError, ValueError):
    """The registry refused the request as invalid: HTTP 400 or 422."""


class RegistryUnavailableError(RegistryError, ConnectionError):
    """The registry could not be reached, spoke another protocol, or kept failing with temporary errors."""


class KubernetesError(LifecycleError, RuntimeError):
    """A call to the Kubernetes API failed.

    Attributes:
        status: The HTTP status, or None for network failures.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubernetesAuthError(KubernetesError, PermissionError):
    """The Kubernetes API refused the credentials (401) or an RBAC permission is missing (403)."""


class KubernetesUnavailableError(KubernetesError, ConnectionError):
    """The Kubernetes API server could not be reached or kept failing with temporary errors."""


class DeploymentError(LifecycleError, RuntimeError):
    """A rollout did not become ready; the message says what was restored and why it failed."""


class RegistryTokenMissingError(RegistryAuthError):
    """A registry token Secret was configured for the pod, but it provided no token (missing Secret, key or value)."""
