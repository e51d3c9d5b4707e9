"""The ``compare_models`` job on plain values: resolve both versions, gate, test, decide, chart, record.

:func:`run_compare_models` is what the component's task (and Python callers) run; the task maps its
:class:`~kfp_model_lifecycle.comparison.result.ComparisonResult` onto the component's outputs and reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.comparison.decision import Side, decide
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.gates import evaluate_gates
from kfp_model_lifecycle.comparison.predictions import Predictions, read_predictions, resolve_predictions_path
from kfp_model_lifecycle.comparison.ranking import Ranking, TrendPoint, metric_trend, rank_model_versions
from kfp_model_lifecycle.comparison.recorded_predictions import find_predictions_uri, record_predictions_artifact
from kfp_model_lifecycle.comparison.result import ComparisonResult, metric_rows
from kfp_model_lifecycle.comparison.settings import BaselineMode, CompareSettings, check_candidate_inputs
from kfp_model_lifecycle.comparison.significance import Significance, SignificanceStatus, assess_significance
from kfp_model_lifecycle.comparison.versions import (
    METRIC_SOURCE_RUN,
    VersionRecord,
    VersionSummary,
    describe_version,
    load_version_record,
)
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import resolve_model_reference
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class CandidateRequest:
    """Which version is the candidate, and what the run says about it.

    Attributes:
        version_id: Its ModelVersion id ("" to use ``reference``).
        reference: ``model:version`` or ``model@alias``.
        model_name: Model for references that name none.
        metrics: Metric name -> value from the run's Metrics artifact (overrides the registry's).
    """

    version_id: str = ""
    reference: str = ""
    model_name: str = ""
    metrics: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PredictionFiles:
    """The per-example predictions passed in.

    Attributes:
        candidate_path: Local file of the candidate's predictions ("" for none).
        candidate_uri: Its URI, recorded on the candidate version.
        candidate_name: Its KFP artifact name, recorded with it.
        baseline_path: Local file of the baseline's predictions ("" to use what the baseline version records).
    """

    candidate_path: str = ""
    candidate_uri: str = ""
    candidate_name: str = ""
    baseline_path: str = ""

    def by_input_name(self) -> dict[str, str]:
        """The values by the name of the ``run_compare_models`` input that gave them (for messages)."""
        return {
            "candidate_predictions_path": self.candidate_path,
            "candidate_predictions_uri": self.candidate_uri,
            "candidate_predictions_name": self.candidate_name,
            "baseline_predictions_path": self.baseline_path,
        }


@dataclass(frozen=True)
class BaselineChoice:
    """The baseline version found for the settings' mode, or why there is none.

    Attributes:
        record: The baseline version, or None.
        note: Why there is no baseline ("" when there is one).
        ranking: The ranking (mode ``best`` only).
    """

    record: VersionRecord | None
    note: str = ""
    ranking: Ranking | None = None


def run_compare_models(
    *,
    gates: Any,
    candidate: str = "",
    candidate_version_id: str = "",
    model_name: str = "",
    baseline: str = "production",
    candidate_metrics: Mapping[str, Any] | None = None,
    candidate_predictions_path: str = "",
    candidate_predictions_uri: str = "",
    candidate_predictions_name: str = "",
    baseline_predictions_path: str = "",
    significance_test: str = "auto",
    significance_level: float = 0.05,
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    require_significance: bool = False,
    record_predictions: bool = True,
    trend_versions: int = 30,
    page_size: int = 100,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
) -> ComparisonResult:
    """The whole ``compare_models`` job on plain values: resolve both versions, gate, test, decide.

    Args:
        gates: See :func:`~kfp_model_lifecycle.comparison.gates.parse_gates`; the first gate's metric is the
            primary metric (ranking, significance test, trend chart).
        candidate: Reference of the candidate (``model:version``, ``model@alias``); ignored when
            ``candidate_version_id`` is set.
        candidate_version_id: The candidate's ModelVersion id (from register_model's output).
        model_name: Default model for references without one.
        baseline: ``production`` (default; the version whose ``kml_stage`` is ``production``), ``best`` (rank all
            LIVE versions of the candidate's model on the primary metric), ``none`` (thresholds only) or a
            reference (``model:version``, ``model@alias``, ``model`` = its production version).
        candidate_metrics: Metric name -> value from the run's Metrics artifact; overrides the registry's.
        candidate_predictions_path: Local file of the candidate's per-example predictions ("" if none).
        candidate_predictions_uri: Its URI (recorded on the candidate version when ``record_predictions``).
        candidate_predictions_name: Its KFP artifact name (recorded with it).
        baseline_predictions_path: Local file of the baseline's predictions; "" to use what is recorded on the
            baseline version (readable when it is a local path or mounted in the pod).
        significance_test: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
        significance_level: Alpha of the test.
        bootstrap_resamples: Resamples of the paired bootstrap.
        seed: Seed of the bootstrap.
        require_significance: Keep the baseline when no test could be run.
        record_predictions: Link the candidate's predictions to its version (so it can be a baseline later).
        trend_versions: Versions in the trend chart.
        page_size: Page size for ranking.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        env: Environment (default ``os.environ``).

    Returns:
        The comparison, as the reports render it.

    Raises:
        InvalidInputError: For invalid inputs (before any registry call).
        NotFoundError: When an explicit candidate or baseline reference does not exist.
        FileNotFoundError: When a predictions file passed in cannot be read.
    """
    files = PredictionFiles(
        candidate_predictions_path, candidate_predictions_uri, candidate_predictions_name, baseline_predictions_path
    )
    check_candidate_inputs(
        candidate=candidate, candidate_version_id=candidate_version_id, model_name=model_name,
        candidate_metrics=candidate_metrics, paths=files.by_input_name(), registry_url=registry_url,
        verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env,
    )  # fmt: skip
    settings = CompareSettings.from_inputs(
        gates=gates,
        baseline=baseline,
        significance_test=significance_test,
        significance_level=significance_level,
        bootstrap_resamples=bootstrap_resamples,
        seed=seed,
        require_significance=require_significance,
        record_predictions=record_predictions,
        trend_versions=trend_versions,
        page_size=page_size,
    )
    if not candidate_version_id and not (candidate or "").strip():
        raise InvalidInputError(
            "no candidate: pass candidate_model (register_model's registered_model output) or candidate, a reference"
            " like 'my-model:1.2.0' or 'my-model@challenger'"
        )
    request = CandidateRequest(
        str(candidate_version_id or ""), (candidate or "").strip(), model_name, candidate_metrics
    )
    with connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env) as conn:
        result = compare(conn, settings, request, files)
    for note in result.notes:
        log.warning("%s", note)
    log.info("decision: %s -- %s", result.decision, result.reason)
    return result


def compare(
    conn: RegistryConnection, settings: CompareSettings, request: CandidateRequest, files: PredictionFiles
) -> ComparisonResult:
    """Compare on an open connection (see :func:`run_compare_models`).

    Args:
        conn: From ``connect_model_registry``.
        settings: The checked settings.
        request: The candidate.
        files: The predictions passed in.

    Returns:
        The comparison.
    """
    notes: list[str] = []
    cand_record = load_candidate(conn, request)
    cand = with_run_metrics(describe_version(cand_record), request.metrics, notes)
    choice = choose_baseline(conn, settings, cand, notes)
    base = describe_version(choice.record) if choice.record else None
    gate_results = evaluate_gates(settings.gates, cand.metrics, base.metrics if base else None)
    cand_pred, cand = read_candidate_predictions(files, cand)
    base_pred, base = read_baseline_predictions(conn, files, choice.record, base, notes)
    significance = significance_of(settings, cand_pred, base_pred, has_baseline=base is not None)
    verdict = decide(
        cand,
        base,
        gate_results,
        significance,
        require_significance=settings.require_significance,
        baseline_note=choice.note,
    )
    trend = trend_of(conn, settings, cand_record, choice.record, cand, base)
    recorded = ""
    if settings.record_predictions and files.candidate_uri:
        recorded = record_predictions_artifact(
            conn, cand.version_id, files.candidate_uri, kfp_artifact_name=files.candidate_name
        )
        log.info("candidate predictions %s on version %s: %s", files.candidate_uri, cand.version_id, recorded)
    return ComparisonResult(
        decision=verdict.decision,
        winner=verdict.winner,
        winner_role=verdict.winner_role,
        reason=verdict.reason,
        reasons=verdict.reasons,
        candidate=cand,
        baseline=base,
        baseline_note=choice.note,
        ranking=choice.ranking,
        gates=tuple(gate_results),
        metrics=tuple(metric_rows(settings.gates, cand, base)),
        significance=significance,
        trend=tuple(trend),
        settings=settings,
        predictions_recorded=recorded,
        notes=tuple(notes),
        registry_url=conn.url,
    )


def load_candidate(conn: RegistryConnection, request: CandidateRequest) -> VersionRecord:
    """The candidate version, by id or by reference.

    Args:
        conn: From ``connect_model_registry``.
        request: The candidate.

    Returns:
        Its record.

    Raises:
        NotFoundError: When it does not exist.
    """
    if request.version_id:
        return load_version_record(conn, request.version_id)
    found = resolve_model_reference(
        conn, request.reference, default_model=request.model_name, repair=False, with_artifact=False
    )
    return load_version_record(conn, str(found.version["id"]))


def with_run_metrics(cand: VersionSummary, metrics: Mapping[str, Any] | None, notes: list[str]) -> VersionSummary:
    """The candidate with the run's numeric metrics over the registry's; a differing value adds a note.

    Args:
        cand: The candidate as the registry describes it.
        metrics: Metric name -> value from the run's Metrics artifact, or None.
        notes: Where notes go.

    Returns:
        The candidate with the merged metrics and their sources.
    """
    values, sources = dict(cand.metrics), dict(cand.metric_sources)
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if name in values and values[name] != float(value):
            notes.append(
                f"candidate {name}: the Metrics artifact says {format_number(float(value), 12)}, the registry"
                f" {format_number(values[name], 12)}; using the Metrics artifact"
            )
        values[name] = float(value)
        sources[name] = METRIC_SOURCE_RUN
    return replace(cand, metrics=values, metric_sources=sources)


def choose_baseline(
    conn: RegistryConnection, settings: CompareSettings, cand: VersionSummary, notes: list[str]
) -> BaselineChoice:
    """The baseline version for the settings' mode.

    Args:
        conn: From ``connect_model_registry``.
        settings: The settings (``baseline`` and the primary gate).
        cand: The candidate.
        notes: Where notes go.

    Returns:
        The baseline, or why there is none.

    Raises:
        NotFoundError: When an explicit baseline reference does not exist.
    """
    mode = settings.baseline_mode
    if mode == BaselineMode.PRODUCTION:
        return production_baseline(conn, cand, notes)
    if mode == BaselineMode.BEST:
        return best_baseline(conn, settings, cand)
    if mode == BaselineMode.REFERENCE:
        found = resolve_model_reference(
            conn, settings.baseline, default_model=cand.model_name, repair=False, with_artifact=False
        )
        return BaselineChoice(load_version_record(conn, str(found.version["id"])))
    return BaselineChoice(None, "baseline='none': thresholds only")


def production_baseline(conn: RegistryConnection, cand: VersionSummary, notes: list[str]) -> BaselineChoice:
    """The version of the candidate's model in production, or a note that there is none.

    Args:
        conn: From ``connect_model_registry``.
        cand: The candidate.
        notes: Where a note goes when the production version exists but cannot be read.

    Returns:
        The choice.
    """
    try:
        found = resolve_model_reference(conn, "", default_model=cand.model_name, repair=False, with_artifact=False)
        return BaselineChoice(load_version_record(conn, str(found.version["id"])))
    except LookupError as exc:
        if "no version in production" not in str(exc):
            notes.append(f"the production version could not be read: {exc}")
        log.info("no production baseline: %s", exc)
        return BaselineChoice(None, f"no version of {cand.model_name!r} is in production")


def best_baseline(conn: RegistryConnection, settings: CompareSettings, cand: VersionSummary) -> BaselineChoice:
    """The best other LIVE version of the candidate's model on the primary metric.

    Args:
        conn: From ``connect_model_registry``.
        settings: The settings (primary gate, page size).
        cand: The candidate.

    Returns:
        The choice, with the ranking.
    """
    primary = settings.primary_gate
    ranking = rank_model_versions(
        conn,
        cand.model_id,
        primary.metric,
        higher_is_better=primary.higher_is_better,
        exclude_ids=[cand.version_id],
        page_size=settings.page_size,
    )
    log.info(
        "ranked %d version(s) of %r on %s in %d page(s)",
        ranking.scanned,
        cand.model_name,
        primary.metric,
        ranking.pages,
    )
    if ranking.best_id:
        return BaselineChoice(load_version_record(conn, ranking.best_id), ranking=ranking)
    note = f"no other LIVE version of {cand.model_name!r} has the metric {primary.metric!r}"
    return BaselineChoice(None, note, ranking)


def read_candidate_predictions(
    files: PredictionFiles, cand: VersionSummary
) -> tuple[Predictions | None, VersionSummary]:
    """The candidate's predictions, when passed in; the candidate then says where they came from.

    Args:
        files: The predictions passed in.
        cand: The candidate.

    Returns:
        The predictions (or None) and the candidate.

    Raises:
        FileNotFoundError: When the file passed in cannot be read.
    """
    if not files.candidate_path:
        return None, cand
    path = resolve_predictions_path(files.candidate_path)
    if not path:
        raise FileNotFoundError(
            f"candidate_predictions {files.candidate_path!r} is not a readable file: pass the"
            " evaluation's predictions Dataset (a CSV with label,prediction[,score])"
        )
    return read_predictions(path), replace(cand, predictions=files.candidate_uri or files.candidate_path)


def read_baseline_predictions(
    conn: RegistryConnection,
    files: PredictionFiles,
    record: VersionRecord | None,
    base: VersionSummary | None,
    notes: list[str],
) -> tuple[Predictions | None, VersionSummary | None]:
    """The baseline's predictions: the file passed in, else the ones recorded on its version when readable here.

    Args:
        conn: From ``connect_model_registry``.
        files: The predictions passed in.
        record: The baseline version, or None.
        base: The baseline, or None.
        notes: Where a note goes when the recorded predictions cannot be read.

    Returns:
        The predictions (or None) and the baseline (saying where they came from).

    Raises:
        FileNotFoundError: When the file passed in cannot be read.
    """
    if record is None or base is None:
        return None, base
    if files.baseline_path:
        source = files.baseline_path
        path = resolve_predictions_path(source)
        if not path:
            raise FileNotFoundError(
                f"baseline_predictions {source!r} is not a readable file: pass a CSV with label,prediction[,score]"
            )
    else:
        source = find_predictions_uri(conn, record.version)
        path = resolve_predictions_path(source) if source else ""
        if source and not path:
            notes.append(
                f"the baseline's predictions are recorded at {source}, which this pod cannot read: pass them"
                " as baseline_predictions (e.g. with dsl.importer(artifact_uri=...)) to test significance"
            )
    if not path:
        return None, base
    return read_predictions(path), replace(base, predictions=source)


def significance_of(
    settings: CompareSettings,
    cand_pred: Predictions | None,
    base_pred: Predictions | None,
    *,
    has_baseline: bool,
) -> Significance:
    """The significance test on the primary metric ("not tested" without a baseline).

    Args:
        settings: The settings (primary gate, test, level, resamples, seed).
        cand_pred: The candidate's predictions, or None.
        base_pred: The baseline's predictions, or None.
        has_baseline: Whether there is a baseline.

    Returns:
        The assessment.
    """
    primary = settings.primary_gate
    if not has_baseline:
        return Significance(
            SignificanceStatus.NOT_TESTED,
            "no baseline",
            primary.metric,
            settings.significance_test,
            settings.significance_level,
        )
    return assess_significance(
        primary.metric,
        primary.higher_is_better,
        cand_pred,
        base_pred,
        method=settings.significance_test,
        alpha=settings.significance_level,
        resamples=settings.bootstrap_resamples,
        seed=settings.seed,
    )


def trend_of(
    conn: RegistryConnection,
    settings: CompareSettings,
    cand_record: VersionRecord,
    base_record: VersionRecord | None,
    cand: VersionSummary,
    base: VersionSummary | None,
) -> list[TrendPoint]:
    """The primary metric across the newest versions, with the candidate and the baseline marked.

    Args:
        conn: From ``connect_model_registry``.
        settings: The settings (primary gate, ``trend_versions``).
        cand_record: The candidate version.
        base_record: The baseline version, or None.
        cand: The candidate.
        base: The baseline, or None.

    Returns:
        The points, oldest first (none when ``trend_versions`` is 0).
    """
    if settings.trend_versions <= 0:
        return []
    extra = [cand_record.version] + ([base_record.version] if base_record else [])
    points = metric_trend(conn, cand.model_id, settings.primary_gate.metric, limit=settings.trend_versions, extra=extra)
    roles = {cand.version_id: Side.CANDIDATE}
    if base is not None:
        roles.setdefault(base.version_id, Side.BASELINE)
    return [replace(point, role=str(roles.get(point.id, ""))) for point in points]
