"""A leaderboard of model versions: N versions ranked on chosen metrics, the best value of each metric marked.

:func:`compare_versions` works on an open registry connection (the Python API and ``kml models compare`` call it);
:func:`run_compare_versions` connects first (the ``compare_versions`` component's task calls it). Both return a
:class:`Leaderboard`; :mod:`kfp_model_lifecycle.comparison.report` renders it as Markdown and HTML.

Ranking: by the first metric (in its direction), ties broken by the second, and so on; a version without a metric
ranks below the versions that have it. Versions equal on every metric share a rank and are listed oldest first,
so the best of a tie is the one registered first (a newcomer must beat it, not equal it).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.comparison.directions import METRICS_EXAMPLE, RankMetric, parse_rank_metrics
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.selection import VersionSelection, select_versions
from kfp_model_lifecycle.comparison.versions import VersionSummary, describe_version
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import check_flag, check_mapping, check_text
from kfp_model_lifecycle.lifecycle.conventions import INITIAL_STAGE
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)

MAX_SCALAR_ROWS = 20
"""The KFP Metrics output carries per-rank values for at most this many rows."""


@dataclass(frozen=True)
class LeaderboardRow:
    """One version on the leaderboard.

    Attributes:
        rank: 1 for the best; versions equal on every ranking metric share a rank.
        version: The version, its metrics and lineage.
        values: Ranking metric -> the version's value (None when it has none), in the metrics' order.
        best_on: The ranking metrics on which this version has the best value (ties included).
    """

    rank: int
    version: VersionSummary
    values: dict[str, float | None]
    best_on: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """``model:version``."""
        return self.version.reference

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able data.

        Returns:
            ``rank``, ``reference``, ``values``, ``best_on`` and the version's fields (ids, stage, state,
            ``created`` in epoch milliseconds, every metric, lineage).
        """
        return {"rank": self.rank, **asdict(self.version), "values": dict(self.values), "best_on": list(self.best_on)}


@dataclass(frozen=True)
class Leaderboard:
    """Model versions ranked on chosen metrics.

    Attributes:
        metrics: The ranking metrics, in order, with their directions.
        rows: One per version, best first.
        selection: Which versions were compared, in words.
        notes: Things worth reading (a version without a ranking metric, a version named twice).
        registry_url: The registry the versions are in.
    """

    metrics: tuple[RankMetric, ...]
    rows: tuple[LeaderboardRow, ...]
    selection: str
    notes: tuple[str, ...] = ()
    registry_url: str = ""

    @property
    def best(self) -> LeaderboardRow:
        """The first row."""
        return self.rows[0]

    @property
    def ranked(self) -> list[str]:
        """The references in rank order."""
        return [row.reference for row in self.rows]

    @property
    def model_names(self) -> list[str]:
        """The models compared, in order of first appearance."""
        return list(dict.fromkeys(row.version.model_name for row in self.rows))

    @property
    def best_values(self) -> dict[str, float]:
        """Ranking metric -> its best value among the versions (metrics no version has are left out)."""
        return best_values(self.rows, self.metrics)

    @property
    def reason(self) -> str:
        """One sentence: which version ranks first, on what, with its values."""
        best = self.best
        on = ", then ".join(
            f"{metric.name} {format_number(best.values.get(metric.name))} ({metric.direction})"
            for metric in self.metrics
        )
        shared = sum(1 for row in self.rows if row.rank == 1)
        tie = f" (tied with {shared - 1} other version(s); the oldest is listed first)" if shared > 1 else ""
        return f"{best.reference} ranks first of {len(self.rows)} version(s) on {on}{tie}"

    @property
    def scalars(self) -> dict[str, float]:
        """The scalars for the KFP UI's Metrics artifact.

        ``versions_compared``; per ranking metric ``best_<m>`` and ``worst_<m>`` (when some version has it) and
        ``rank<i>_<m>`` for the first :data:`MAX_SCALAR_ROWS` rows that have it.
        """
        scalars = {"versions_compared": float(len(self.rows))}
        for metric in self.metrics:
            values = [row.values.get(metric.name) for row in self.rows]
            present = [v for v in values if v is not None]
            if not present:
                continue
            scalars[f"best_{metric.name}"] = float(self.best_values[metric.name])
            scalars[f"worst_{metric.name}"] = float(min(present) if metric.higher_is_better else max(present))
            for i, value in enumerate(values[:MAX_SCALAR_ROWS], start=1):
                if value is not None:
                    scalars[f"rank{i}_{metric.name}"] = float(value)
        return scalars

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard as JSON-able data (``json.dumps`` works on it as is).

        Returns:
            ``best``, ``ranked``, ``metrics``, ``best_values``, ``rows`` (see :meth:`LeaderboardRow.to_dict`),
            ``selection``, ``notes`` and ``registry_url``.
        """
        return {
            "best": self.best.reference,
            "best_version_id": self.best.version.version_id,
            "ranked": self.ranked,
            "metrics": [metric.to_dict() for metric in self.metrics],
            "best_values": self.best_values,
            "rows": [row.to_dict() for row in self.rows],
            "selection": self.selection,
            "notes": list(self.notes),
            "registry_url": self.registry_url,
        }


def best_values(rows: Sequence[LeaderboardRow], metrics: Sequence[RankMetric]) -> dict[str, float]:
    """The best value of each ranking metric among the rows.

    Args:
        rows: The rows.
        metrics: The ranking metrics.

    Returns:
        Metric -> best value (metrics no row has are left out).
    """
    found = {}
    for metric in metrics:
        present = [row.values[metric.name] for row in rows if row.values.get(metric.name) is not None]
        if present:
            found[metric.name] = max(present) if metric.higher_is_better else min(present)
    return found


def _sort_key(version: VersionSummary, metrics: Sequence[RankMetric]) -> tuple[tuple[int, float], ...]:
    """Better first on each metric in turn; a missing value sorts after every present one."""
    key = []
    for metric in metrics:
        value = version.metrics.get(metric.name)
        key.append((1, 0.0) if value is None else (0, -value if metric.higher_is_better else value))
    return tuple(key)


def rank_versions(versions: Sequence[VersionSummary], metrics: Sequence[RankMetric]) -> tuple[LeaderboardRow, ...]:
    """Rank versions on the metrics in order (see the module docstring for ties and missing values).

    Args:
        versions: The versions (with their metrics).
        metrics: The ranking metrics.

    Returns:
        The rows, best first, with ranks and the best value of each metric marked.
    """

    def order(version: VersionSummary) -> tuple[Any, ...]:
        vid = version.version_id
        return (_sort_key(version, metrics), version.created, int(vid) if vid.isdigit() else 0, vid)

    ordered = sorted(versions, key=order)
    rows: list[LeaderboardRow] = []
    rank, previous = 0, None
    for position, version in enumerate(ordered, start=1):
        key = _sort_key(version, metrics)
        if key != previous:
            rank, previous = position, key
        values = {metric.name: version.metrics.get(metric.name) for metric in metrics}
        rows.append(LeaderboardRow(rank, version, values))
    best = best_values(rows, metrics)
    return tuple(
        LeaderboardRow(
            row.rank,
            row.version,
            row.values,
            tuple(name for name, value in row.values.items() if value is not None and value == best.get(name)),
        )
        for row in rows
    )


def check_metrics(versions: Sequence[VersionSummary], metrics: Sequence[RankMetric]) -> list[str]:
    """Check that every ranking metric is recorded on some version; note the versions lacking one.

    Args:
        versions: The versions compared.
        metrics: The ranking metrics.

    Returns:
        Notes naming the versions without a metric (they rank below the others on it).

    Raises:
        InvalidInputError: When no metric is given, or no version has one of them (the available ones listed).
    """
    available = sorted({name for version in versions for name in version.metrics})
    listed = ", ".join(available) if available else "none (no version has a numeric metric)"
    if not metrics:
        raise InvalidInputError(
            f"metrics is empty: name the metrics to rank on, e.g. {METRICS_EXAMPLE}; the versions have: {listed}"
        )
    notes = []
    for metric in metrics:
        missing = [v.reference for v in versions if metric.name not in v.metrics]
        if len(missing) == len(versions):
            close = difflib.get_close_matches(metric.name, available, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInputError(
                f"unknown metric {metric.name!r}{hint}: none of the {len(versions)} version(s) compared records it;"
                f" available metrics: {listed}"
            )
        if missing:
            notes.append(f"no {metric.name} on {', '.join(missing)}: ranked below the versions that have it")
    return notes


def _with_stage(version: VersionSummary) -> VersionSummary:
    """The version with its stage as people say it: ``development`` when it never moved (no ``kml_stage``)."""
    return version if version.stage else replace(version, stage=INITIAL_STAGE)


def build_leaderboard(
    conn: RegistryConnection, selection: VersionSelection, metrics: Sequence[RankMetric]
) -> Leaderboard:
    """Select the versions, check the metrics and rank (on an open connection, with checked inputs).

    Args:
        conn: From ``connect_model_registry``.
        selection: Which versions.
        metrics: The ranking metrics.

    Returns:
        The leaderboard.
    """
    selected = select_versions(conn, selection)
    versions = [_with_stage(describe_version(record)) for record in selected.records]
    notes = [*selected.notes, *check_metrics(versions, metrics)]
    board = Leaderboard(
        metrics=tuple(metrics),
        rows=rank_versions(versions, metrics),
        selection=selection.describe(),
        notes=tuple(notes),
        registry_url=conn.url,
    )
    log.info("%s", board.reason)
    return board


def compare_versions(
    conn: RegistryConnection,
    *,
    references: Sequence[str] | str | None = None,
    version_ids: Sequence[Any] | None = None,
    filter_query: str = "",
    latest: int = 0,
    model_name: str = "",
    metrics: Sequence[Any] | Mapping[str, Any] | str | None = None,
) -> Leaderboard:
    """Rank model versions on chosen metrics: a leaderboard.

    Args:
        conn: From ``connect_model_registry``.
        references: ``model:version``, ``model@alias`` or ``model`` (its production version); several models may
            be mixed (the table shows ``model:version``).
        version_ids: ModelVersion ids, e.g. register_model's ``version_id`` outputs collected from a ParallelFor.
        filter_query: A registry ``filterQuery`` on the versions (default ``state = "LIVE"``), instead of
            references.
        latest: Only the newest N matching versions (0: every match, at most 500).
        model_name: The model whose versions are queried ("" for every model), and of references without one.
        metrics: The metrics to rank on, in order: names (``"-log_loss"``: lower is better), a dict
            (``{"log_loss": "min"}``) or objects (``{"metric": ..., "higher_is_better": ...}``); losses, errors,
            rmse/mse/mae and latency are lower-is-better by default, anything else higher-is-better.

    Returns:
        The leaderboard.

    Raises:
        InvalidInputError: For contradicting or malformed inputs, no metric, or a metric no version has (the
            available ones listed).
        NotFoundError: When a reference, id or model does not exist, or nothing matched.
    """
    selection = VersionSelection.from_inputs(
        references=references, version_ids=version_ids, filter_query=filter_query, latest=latest, model_name=model_name
    )
    return build_leaderboard(conn, selection, parse_rank_metrics(metrics))


def run_compare_versions(
    *,
    metrics: Sequence[Any] | Mapping[str, Any] | str,
    references: Sequence[str] | str | None = None,
    version_ids: Sequence[Any] | None = None,
    filter_query: str = "",
    latest: int = 0,
    model_name: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
) -> Leaderboard:
    """The ``compare_versions`` job on plain values: check the inputs, connect, rank.

    Args:
        metrics: See :func:`compare_versions`.
        references: See :func:`compare_versions`.
        version_ids: See :func:`compare_versions`.
        filter_query: See :func:`compare_versions`.
        latest: See :func:`compare_versions`.
        model_name: See :func:`compare_versions`.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        env: Environment (default ``os.environ``).

    Returns:
        The leaderboard.

    Raises:
        InvalidInputError: For invalid inputs (before any registry call, except the metric checks that list the
            versions' metrics).
        NotFoundError: When a reference, id or model does not exist, or nothing matched.
    """
    selection = VersionSelection.from_inputs(
        references=references, version_ids=version_ids, filter_query=filter_query, latest=latest, model_name=model_name
    )
    ranking_metrics = parse_rank_metrics(metrics)
    check_text(registry_url, "registry_url", example="'http://model-registry-service.kubeflow:8080'")
    check_text(ca_bundle_path, "ca_bundle_path", example="'/etc/ssl/registry-ca.pem'")
    check_flag(verify_tls, "verify_tls")
    check_mapping(env, "env", example="dict(os.environ)")
    with connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env) as conn:
        board = build_leaderboard(conn, selection, ranking_metrics)
    for note in board.notes:
        log.warning("%s", note)
    return board
