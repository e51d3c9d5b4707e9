"""``Lifecycle``: the model lifecycle from Python, on the same functions the components and ``kml models`` run.

::

    from kfp_model_lifecycle import Lifecycle

    with Lifecycle("http://127.0.0.1:8080") as lc:       # or Lifecycle.from_env() (KML_REGISTRY_URL, _TOKEN)
        reg = lc.register("iris", "model.joblib", model_format="sklearn", metrics={"accuracy": 0.95})
        lc.promote(f"iris:{reg.version_name}", "production", aliases=["champion"], reason="first model")
        champion = lc.get("iris@champion")
        print(champion.version_name, champion.stage, champion.metrics, champion.model_uri)

Every method returns a dataclass (``to_dict()`` gives the ``kml models ... --json`` form where there is one).
Token, TLS and retries work as in the components: the token from ``token=`` or ``KML_REGISTRY_TOKEN`` (never
logged), TLS verification on (``ca_bundle_path``), transient failures retried (``KML_REGISTRY_MAX_ATTEMPTS``...).
A ``Lifecycle`` keeps one connection open until :meth:`Lifecycle.close` (or the end of a ``with`` block); use one
per thread. In a notebook, whose event loop runs in the main thread, calls run in a helper thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kfp_model_lifecycle.api.artifacts import download_uri
from kfp_model_lifecycle.api.registration import register_local_model
from kfp_model_lifecycle.audit import AuditReport, audit_registry
from kfp_model_lifecycle.audit.run import kubernetes_access
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry, parse_registry_url
from kfp_model_lifecycle.client.failures import redact_secrets
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, compare_versions
from kfp_model_lifecycle.deployment.history import DeploymentHistory, list_model_deployments
from kfp_model_lifecycle.doctor import Checklist, DoctorSettings, check_installation
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle import (
    check_flag,
    check_mapping,
    check_text,
    check_text_list,
    described,
    plain_properties,
    resolve_model_reference,
)
from kfp_model_lifecycle.lifecycle.actions import approve, promote, rollback
from kfp_model_lifecycle.lifecycle.catalog import HistoryEvent, VersionRow, version_metrics
from kfp_model_lifecycle.lifecycle.queries import (
    ModelOverview,
    ModelSummary,
    VersionDetails,
    list_models,
    model_events,
    search_models,
    show_model,
    show_version,
)
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult
from kfp_model_lifecycle.registration import RegistrationResult

T = TypeVar("T")
URL_ENV = "KML_REGISTRY_URL"
TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name


def metrics_in_common(conn: RegistryConnection, references: Sequence[str]) -> list[str]:
    """The metrics every one of the versions records, by name (all their metrics when they share none).

    Args:
        conn: A registry connection.
        references: Version references.

    Returns:
        Metric names, sorted.
    """
    recorded = [
        set(version_metrics(plain_properties(resolve_model_reference(conn, r, with_artifact=False).version)))
        for r in references
    ]
    common = set.intersection(*recorded) if recorded else set()
    return sorted(common or set().union(*recorded))


class Lifecycle:
    """A Model Registry seen through the model lifecycle: register, find, compare, promote, approve, audit.

    Args:
        registry_url: Base URL with scheme and port, e.g. ``http://127.0.0.1:8080`` or
            ``https://model-registry-service.kubeflow.svc.cluster.local:8443`` ("" reads ``KML_REGISTRY_URL``).
        token: Bearer token ("" reads ``KML_REGISTRY_TOKEN``; over https the pod's service-account token is used
            when there is none, as in the components).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM bundle of the CA(s) to trust for https.
        actor: Who promotes and approves (default ``user:<login name>``).
        env: Environment for the URL, token and retry settings (default ``os.environ``).

    Raises:
        InvalidInputError: When no URL is given (nor ``KML_REGISTRY_URL``), it is malformed, or an option has the
            wrong type.
    """

    def __init__(
        self,
        registry_url: str = "",
        *,
        token: str = "",
        verify_tls: bool = True,
        ca_bundle_path: str = "",
        actor: str = "",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env = dict(os.environ if env is None else check_mapping(env, "env", example="dict(os.environ)"))
        token = check_text(token, "token")
        if token:
            self._env[TOKEN_ENV] = token
        url = check_text(registry_url, "registry_url", example="'http://127.0.0.1:8080'").strip()
        url = url or str(self._env.get(URL_ENV) or "").strip()
        if not url:
            raise InvalidInputError(
                f"no Model Registry address: Lifecycle('http://127.0.0.1:8080') or set {URL_ENV} and use"
                " Lifecycle.from_env() (`kml registry serve` starts a local registry on port 8080)"
            )
        try:
            self.url = parse_registry_url(url).url
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        self.verify_tls = check_flag(verify_tls, "verify_tls")
        self.ca_bundle_path = check_text(ca_bundle_path, "ca_bundle_path", example="'/etc/ssl/registry-ca.pem'")
        self.actor = check_text(actor, "actor", example="'user:alice'")
        self._conn: RegistryConnection | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> Lifecycle:
        """A ``Lifecycle`` for the registry in ``KML_REGISTRY_URL``, with the token in ``KML_REGISTRY_TOKEN``.

        Args:
            env: Environment to read (default ``os.environ``).
            **options: Other constructor options (``verify_tls``, ``ca_bundle_path``, ``actor``).

        Returns:
            The ``Lifecycle`` (not connected yet: the first call connects).

        Example:
            >>> import os
            >>> Lifecycle.from_env({"KML_REGISTRY_URL": "http://127.0.0.1:8080"}).url
            'http://127.0.0.1:8080'
        """
        return cls(env=env, **options)

    def __repr__(self) -> str:
        return f"Lifecycle({self.url!r})"

    # -- connection ------------------------------------------------------------------------------------------

    def _connection(self) -> RegistryConnection:
        if self._conn is None:
            self._conn = connect_model_registry(
                self.url, verify_tls=self.verify_tls, ca_bundle_path=self.ca_bundle_path, env=self._env
            )
        return self._conn

    def _run(self, work: Callable[[], T]) -> T:
        """Run ``work`` here, or in a helper thread when this thread runs an event loop (a notebook).

        An error's message never carries the token: a server that echoed it is redacted (``***``).
        """
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return work()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kml-lifecycle") as pool:
                return pool.submit(work).result()
        except Exception as exc:
            exc.args = tuple(
                redact_secrets(a, [self._env.get(TOKEN_ENV)]) if isinstance(a, str) else a for a in exc.args
            )
            raise

    def _with_conn(self, work: Callable[[RegistryConnection], T]) -> T:
        return self._run(lambda: work(self._connection()))

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._run(conn.close)

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- registering -----------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        uri: str,
        *,
        version: str = "patch",
        model_format: str = "",
        model_format_version: str = "",
        metrics: Mapping[str, float] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        datasets: Mapping[str, str] | None = None,
        labels: Iterable[str] | None = None,
        description: str = "",
        author: str = "",
        code_version: str = "",
    ) -> RegistrationResult:
        """Register a model version trained outside a pipeline (the ``register_model`` component's code).

        Lineage: ``source=manual``, the git commit of the current directory, the user and the host (as
        ``model_meta_source``, ``code_version``, ``model_meta_user``, ``model_meta_host``), and each dataset with
        its sha256 digest when it is a local file.

        Args:
            name: The registered model (created when missing).
            uri: The model: a local file or directory (recorded as its absolute path), ``s3://``, ``https://``...
            version: ``patch`` (default), ``minor``, ``major`` or an explicit ``X.Y.Z``.
            model_format: Serving format, e.g. ``sklearn``.
            model_format_version: Its version, e.g. ``1``.
            metrics: Metric -> number.
            hyperparameters: Name -> value (typed: ints, floats, bools, text).
            datasets: Role -> URI, e.g. ``{"train": "data/train.csv"}``.
            labels: Labels for the registry UI.
            description: Version description.
            author: Version author (default: the login name).
            code_version: Code version (default: the git commit of the current directory).

        Returns:
            The registered version: ``model_name``, ``version_name``, ``version_id``, ``properties``...

        Example:
            >>> reg = lc.register("iris", "model.joblib", model_format="sklearn",  # doctest: +SKIP
            ...                   metrics={"accuracy": 0.95}, datasets={"train": "train.csv"})
            >>> reg.version_name  # doctest: +SKIP
            '0.0.1'
        """
        return self._run(
            lambda: register_local_model(
                name,
                uri,
                version=version,
                model_format=model_format,
                model_format_version=model_format_version,
                metrics=metrics,
                hyperparameters=hyperparameters,
                datasets=datasets,
                labels=labels,
                description=description,
                author=author,
                code_version=code_version,
                registry_url=self.url,
                verify_tls=self.verify_tls,
                ca_bundle_path=self.ca_bundle_path,
                env=self._env,
            )
        )

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, reference: str) -> VersionDetails:
        """One model version: ``name`` (its production version), ``name:1.2.0``, ``name@champion``, ``name@latest``.

        Args:
            reference: The version reference.

        Returns:
            ``name``, ``version_name``, ``id``, ``stage``, ``aliases``, ``approval``, ``metrics``,
            ``hyperparameters``, ``lineage``, ``model_uri``, ``artifact``, ``history``...

        Raises:
            NotFoundError: When the model, version or alias does not exist (the message names what does).

        Example:
            >>> lc.get("iris@champion").metrics  # doctest: +SKIP
            {'accuracy': 0.95}
        """
        return self._with_conn(lambda conn: show_version(conn, reference))

    def model(self, name: str) -> ModelOverview:
        """A registered model: its versions, aliases, production version, policy and recent history.

        Args:
            name: The registered model.

        Returns:
            The overview.
        """
        return self._with_conn(lambda conn: show_model(conn, name))  # type: ignore[return-value]

    def models(self) -> list[ModelSummary]:
        """Every registered model at a glance (versions, production, aliases), by name."""
        return self._with_conn(list_models)

    def search(self, query: str = "", *, model: str = "", include_incomplete: bool = False) -> list[VersionRow]:
        """Versions matching a filter, e.g. ``'accuracy > 0.9 AND stage = "production"'``.

        Helpers besides the registry's own fields and properties: ``stage`` (versions that never moved are
        ``development``), ``approval``, ``alias``. Versions whose registration did not finish (no model artifact)
        are left out unless ``include_incomplete`` (then their ``complete`` is False).

        Args:
            query: The filter ("" for every version).
            model: Only versions of this model.
            include_incomplete: Also return versions whose registration did not finish.

        Returns:
            The matching versions, by model and id.

        Example:
            >>> [row.reference for row in lc.search('accuracy >= 0.95')]  # doctest: +SKIP
            ['iris:0.0.2']
        """
        return self._with_conn(  # type: ignore[return-value]
            lambda conn: search_models(conn, query, model=model, include_incomplete=include_incomplete)
        )

    def history(self, name: str, *, version: str = "", event_type: str = "") -> list[HistoryEvent]:
        """A model's audit trail, oldest first: who changed what, when, why, with which evidence.

        Args:
            name: The registered model.
            version: Only events about this version name.
            event_type: Only ``stage``, ``alias``, ``approval``, ``rejection``, ``policy`` or ``deployment``.

        Returns:
            The events (``seq``, ``time``, ``type``, ``from_value``, ``to_value``, ``actor``, ``reason``,
            ``evidence_uri``...).
        """
        return self._with_conn(lambda conn: model_events(conn, name, version=version, event_type=event_type))

    def deployments(self, name: str) -> DeploymentHistory:
        """Where a model is deployed (``services``) and every recorded rollout (``rollouts``, oldest first).

        Args:
            name: The registered model.

        Returns:
            The deployment history from the registry's serving records.
        """
        return self._with_conn(lambda conn: list_model_deployments(conn, name))

    def compare(self, references: Sequence[str], *, metrics: Sequence[str] | None = None) -> Leaderboard:
        """Rank versions on metrics (the ``compare_versions`` component's code): a leaderboard.

        Args:
            references: Two or more version references (several models may be mixed).
            metrics: Metrics in ranking order; ``-log_loss`` ranks lower first (losses, errors and latency do so
                by default). Default: the metrics every version records, by name.

        Returns:
            The leaderboard: ``best``, ``rows`` (rank, values, ``best_on``), ``best_values``, ``reason``;
            ``to_dict()`` is the ``kml models compare --json`` form.

        Example:
            >>> lc.compare(["iris:0.0.1", "iris:0.0.2"], metrics=["accuracy"]).best.reference  # doctest: +SKIP
            'iris:0.0.2'
        """
        refs = check_text_list(references, "references", example="['iris:1.0.0', 'iris@champion']")

        def work(conn: RegistryConnection) -> Leaderboard:
            return compare_versions(conn, references=refs, metrics=list(metrics or metrics_in_common(conn, refs)))

        return self._with_conn(work)

    def model_uri(self, reference: str) -> str:
        """Where a version's model is (its model artifact's URI).

        Args:
            reference: The version reference.

        Returns:
            The URI as registered.

        Raises:
            NotFoundError: When the version has no model artifact.
        """
        version = self.get(reference)
        if not version.model_uri:
            raise NotFoundError(f"{version.reference} has no model artifact with a URI: nothing to download")
        return version.model_uri

    def download(self, reference: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a version's model to ``dest``: local paths, http(s) and s3 (with ``boto3``).

        Args:
            reference: The version reference.
            dest: An existing directory (the model goes inside it) or the path to write.

        Returns:
            The path written.

        Example:
            >>> path = lc.download("iris@champion", "/tmp")  # doctest: +SKIP
        """
        if not isinstance(dest, str | os.PathLike) or not str(dest).strip():
            raise InvalidInputError(f"dest must be a path (text), got {described(dest)}: e.g. dest='/tmp/model'")
        return download_uri(self.model_uri(reference), dest)

    # -- changing the lifecycle ------------------------------------------------------------------------------

    def promote(
        self,
        reference: str,
        stage: str = "",
        *,
        aliases: Iterable[str] = (),
        remove_aliases: Iterable[str] = (),
        reason: str = "",
        evidence_uri: str = "",
        dry_run: bool = False,
        demote_to: str = "",
        require_approval: bool = False,
    ) -> PromotionResult:
        """Move a version to a stage and/or point aliases at it (recorded in the audit trail).

        Promoting to production demotes the previous production version; a model that requires approval
        refuses an unapproved version.

        Args:
            reference: The version.
            stage: ``development``, ``staging``, ``production`` or ``archived`` ("" to leave it).
            aliases: Aliases to point at it, e.g. ``["champion"]``.
            remove_aliases: Aliases to remove from the model.
            reason: Why.
            evidence_uri: Comparison report or other evidence.
            dry_run: Plan only.
            demote_to: Stage for the displaced production version.
            require_approval: Require an approval for this promotion.

        Returns:
            What changed: ``new_holder``, ``previous_holder``, ``stage``, ``summary``...
        """
        return self._with_conn(
            lambda conn: promote(
                conn,
                reference,
                stage=stage,
                aliases=aliases,
                remove_aliases=remove_aliases,
                reason=reason,
                evidence_uri=evidence_uri,
                actor=self.actor,
                dry_run=dry_run,
                demote_to=demote_to,
                require_approval=require_approval,
            )
        )

    def rollback(
        self, name: str, *, reason: str = "", evidence_uri: str = "", dry_run: bool = False
    ) -> PromotionResult:
        """Re-promote the previous production version of a model (from its audit trail).

        Args:
            name: The registered model.
            reason: Why.
            evidence_uri: Incident or report.
            dry_run: Plan only.

        Returns:
            What changed; ``previous_holder`` is the version rolled back from.
        """
        return self._with_conn(
            lambda conn: rollback(
                conn, name, reason=reason, evidence_uri=evidence_uri, actor=self.actor, dry_run=dry_run
            )
        )

    def approve(
        self,
        reference: str,
        *,
        status: str = "approved",
        comment: str = "",
        evidence_uri: str = "",
        dry_run: bool = False,
    ) -> ApprovalResult:
        """Record an approval decision for a version (needed for production when the model requires it).

        Args:
            reference: The version.
            status: ``approved``, ``rejected`` (needs a comment) or ``pending``.
            comment: Why.
            evidence_uri: Review, ticket or report.
            dry_run: Check only.

        Returns:
            The decision: ``status``, ``previous_status``, ``event_seq``...
        """
        return self._with_conn(
            lambda conn: approve(
                conn,
                reference,
                status=status,
                comment=comment,
                approver=self.actor,
                evidence_uri=evidence_uri,
                dry_run=dry_run,
            )
        )

    # -- checking --------------------------------------------------------------------------------------------

    def audit(self, name: str | None = None, *, staging_days: int = 30, kubeconfig: str = "") -> AuditReport:
        """Audit the registry (read only): findings with severity and fix (``kml models audit``).

        Args:
            name: Only this registered model (None: every model).
            staging_days: Flag versions in staging for longer than this many days.
            kubeconfig: Also compare DEPLOYED serving records with the InferenceServices of this cluster.

        Returns:
            The report: ``findings`` (``severity``, ``code``, ``reference``, ``message``, ``fix``), ``counts()``,
            ``fails("error")``; ``kfp_model_lifecycle.audit.render_html(report)`` for a page.
        """
        kubeconfig = check_text(kubeconfig, "kubeconfig", example="'~/.kube/config'").strip()

        def work(conn: RegistryConnection) -> AuditReport:
            with kubernetes_access(bool(kubeconfig), kubeconfig, "", self._env) as (live, why_not):
                if kubeconfig and live is None:
                    raise InvalidInputError(f"kubeconfig {kubeconfig!r} cannot be used: {why_not}")
                return audit_registry(conn, name or "", staging_days=staging_days, live=live)

        return self._with_conn(work)

    def doctor(
        self,
        *,
        kubernetes: bool = True,
        kubeconfig: str = "",
        namespace: str = "",
        token_secret: str = "",
        token_secret_key: str = "token",  # noqa: S107 - the key's name
        write_probe: bool = True,
    ) -> Checklist:
        """Check the installation (``kml doctor``): the registry, and KServe, RBAC and the token Secret.

        Args:
            kubernetes: Run the Kubernetes checks.
            kubeconfig: Kubeconfig ("" for ``KUBECONFIG``, then in-cluster, then ``~/.kube/config``).
            namespace: Namespace deployments go to ("" for the kubeconfig context's).
            token_secret: The registry token Secret pipelines use ("" checks none).
            token_secret_key: Its key.
            write_probe: Check that writes reach the registry (a dry probe: nothing is written).

        Returns:
            The checklist: ``ok``, ``checks`` (``name``, ``ok``, ``detail``, ``fix``), ``text_lines()``.
        """
        settings = DoctorSettings(
            registry_url=self.url,
            verify_tls=self.verify_tls,
            ca_bundle_path=self.ca_bundle_path,
            write_probe=check_flag(write_probe, "write_probe"),
            kubernetes=check_flag(kubernetes, "kubernetes"),
            kubeconfig_path=check_text(kubeconfig, "kubeconfig").strip(),
            namespace=check_text(namespace, "namespace").strip(),
            token_secret_name=check_text(token_secret, "token_secret").strip(),
            token_secret_key=check_text(token_secret_key, "token_secret_key").strip() or "token",
            env=self._env,
        )
        return self._run(lambda: check_installation(settings))
