"""What the Version page shows: every lineage field laid out for a reader, its comparison reports, its deployments.

Pure functions of ``Lifecycle.get`` and ``Lifecycle.deployments`` results (see :mod:`.views`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.ui.links import outside_href
from kfp_model_lifecycle.ui.views import RunCell, readable_time

if TYPE_CHECKING:
    from kfp_model_lifecycle.deployment.history import DeploymentHistory
    from kfp_model_lifecycle.lifecycle.queries import VersionDetails

DATASET_KEY = re.compile(r"^dataset_(\d+)_(.+)$")
RUN_FIELDS = (
    ("kfp_run_name", "name"),
    ("kfp_run_display_name", "display name"),
    ("kfp_run_id", "id"),
    ("kfp_pipeline_name", "pipeline"),
    ("kfp_namespace", "namespace"),
    ("kfp_task_name", "task"),
)
MANUAL_FIELDS = (("model_meta_source", "source"), ("model_meta_user", "user"), ("model_meta_host", "host"))
SHOWN_ELSEWHERE = {"kfp_run_url", "kfp_model_uri", "code_version", "training_image"}
MODEL_META_PREFIX = "model_meta_"
REPORT_EVENT_TYPES = ("stage", "alias", "approval", "rejection")


def value_text(value: Any) -> str:
    """A property value for a reader: numbers with up to 4 significant digits (integers as integers).

    Args:
        value: The value.

    Returns:
        The text.
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format_number(value)
    return str(value)


@dataclass(frozen=True)
class Field:
    """A labelled value, with a link when it is safe to make one.

    Attributes:
        label: What it is.
        text: The value.
        href: A link ("" for none).
    """

    label: str
    text: str
    href: str = ""


@dataclass(frozen=True)
class Dataset:
    """A dataset a version was trained or evaluated on.

    Attributes:
        index: Its number in the lineage (``dataset_<i>_*``).
        role: ``train``, ``test``...
        uri: Where it is.
        sha256: Its digest ("" when not recorded).
        href: A link to it when it is safe to make one.
        extra: Its other recorded fields.
    """

    index: int
    role: str
    uri: str
    sha256: str
    href: str
    extra: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Lineage:
    """A version's lineage for a reader.

    Attributes:
        run: The run that made it (``manual (...)`` for a registration by hand).
        run_fields: The run's fields (name, id, pipeline...) or the manual registration's (source, user, host).
        datasets: Its datasets.
        code_version: The code version ("" when not recorded).
        training_image: The training image.
        model: The model artifact's fields (uri, format, source...).
        model_meta: Other facts about the model (``model_meta_*``: framework, class...).
        other: Lineage fields not listed above.
        source: ``kfp`` (registered by a pipeline run), ``manual`` (by hand) or "" (unknown).
        pipeline: The pipeline's name ("" when not recorded).
    """

    run: RunCell
    run_fields: list[Field]
    datasets: list[Dataset]
    code_version: str
    training_image: str
    model: list[Field]
    model_meta: list[Field]
    other: list[Field] = field(default_factory=list)
    source: str = ""
    pipeline: str = ""


def datasets_of(lineage: Mapping[str, Any]) -> list[Dataset]:
    """The datasets in a version's lineage (``dataset_<i>_uri``, ``_sha256``, ``_role``...), by number.

    Args:
        lineage: ``VersionDetails.lineage``.

    Returns:
        The datasets.
    """
    found: dict[int, dict[str, str]] = {}
    for key, value in lineage.items():
        match = DATASET_KEY.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value_text(value)
    datasets = []
    for index, fields in sorted(found.items()):
        uri = fields.pop("uri", "")
        extra = tuple(Field(k, v) for k, v in sorted(fields.items()) if k not in ("role", "sha256"))
        datasets.append(Dataset(index, fields.get("role", ""), uri, fields.get("sha256", ""), outside_href(uri), extra))
    return datasets


def lineage_of(details: VersionDetails, run: RunCell) -> Lineage:
    """A version's lineage for a reader.

    Args:
        details: From ``Lifecycle.get``.
        run: Its run (see :func:`.views.run_cell`).

    Returns:
        The lineage, grouped.
    """
    lineage = details.lineage
    from_kfp = any(k in lineage for k, _ in RUN_FIELDS)
    fields = RUN_FIELDS if from_kfp else MANUAL_FIELDS
    run_fields = [Field(label, value_text(lineage[k])) for k, label in fields if lineage.get(k) not in (None, "")]
    if run.href:
        run_fields.append(Field("in the KFP UI", run.href, run.href))
    listed = {k for k, _ in (*RUN_FIELDS, *MANUAL_FIELDS)} | SHOWN_ELSEWHERE
    model = [Field(k, value_text(v), outside_href(v) if k == "uri" else "") for k, v in details.artifact.items()]
    if not details.artifact.get("uri") and lineage.get("kfp_model_uri"):
        uri = str(lineage["kfp_model_uri"])
        model.insert(0, Field("uri", uri, outside_href(uri)))
    meta = [
        Field(k[len(MODEL_META_PREFIX) :].replace("_", " "), value_text(v))
        for k, v in lineage.items()
        if k.startswith(MODEL_META_PREFIX) and k not in listed
    ]
    other = [
        Field(k, value_text(v))
        for k, v in lineage.items()
        if k not in listed and not k.startswith(MODEL_META_PREFIX) and not DATASET_KEY.match(k)
    ]
    return Lineage(
        run=run,
        run_fields=run_fields,
        datasets=datasets_of(lineage),
        code_version=value_text(lineage.get("code_version") or ""),
        training_image=value_text(lineage.get("training_image") or ""),
        model=model,
        model_meta=meta,
        other=other,
        source="kfp" if from_kfp else str(lineage.get("model_meta_source") or ""),
        pipeline=value_text(lineage.get("kfp_pipeline_name") or ""),
    )


@dataclass(frozen=True)
class ReportLink:
    """A comparison report a decision about the version rests on (from the audit trail's evidence).

    Attributes:
        uri: The report's URI as recorded.
        href: A link to it ("" when it cannot be linked, e.g. ``s3://``).
        when: When the decision was recorded.
        decision: The decision, in words (e.g. ``stage 1.0.1: development -> production``).
        reason: Why.
    """

    uri: str
    href: str
    when: str
    decision: str
    reason: str


def comparison_reports(history: Iterable[Mapping[str, Any]]) -> list[ReportLink]:
    """The reports a version's recorded decisions point at, oldest first, each once.

    ``compare_models`` writes the report; ``promote_model`` and ``record_model_event`` record its URI as the
    ``report_uri`` evidence of the promotion or the rejection.

    Args:
        history: ``VersionDetails.history`` (history rows).

    Returns:
        One link per report.
    """
    seen: set[str] = set()
    reports = []
    for row in sorted(history, key=lambda r: int(r.get("seq") or 0)):
        evidence = row.get("evidence") or {}
        uri = str(evidence.get("report_uri") or "").strip()
        if not uri or uri in seen:
            continue
        seen.add(uri)
        reports.append(
            ReportLink(
                uri,
                outside_href(uri),
                readable_time(str(row.get("time") or "")),
                str(row.get("description") or row.get("type") or ""),
                str(row.get("reason") or ""),
            )
        )
    return reports


@dataclass(frozen=True)
class VersionDeployment:
    """Where one version is or was deployed (one InferenceService).

    Attributes:
        target: ``namespace/name``.
        state: ``serving`` (it serves this version now), ``undeployed`` (deleted while serving it), ``replaced``
            (it served it, now serves another version) or ``failed`` (its rollouts of this version all failed).
        when: The last rollout of this version there.
        url: Where it serves.
    """

    target: str
    state: str
    when: str
    url: str = ""


def version_deployments(version_id: str, history: DeploymentHistory) -> list[VersionDeployment]:
    """The InferenceServices a version was rolled out to, with what they do now.

    Args:
        version_id: The version's id.
        history: From ``Lifecycle.deployments``.

    Returns:
        One entry per InferenceService, in the order of its first rollout of the version.
    """
    serving = {
        f"{s.namespace}/{s.name}": s for s in history.services if s.version_id == version_id and s.state == "DEPLOYED"
    }
    found: dict[str, VersionDeployment] = {}
    succeeded: set[str] = set()
    for rollout in history.rollouts:
        if rollout.version_id != version_id:
            continue
        target = f"{rollout.namespace}/{rollout.inference_service}"
        if rollout.outcome == "deployed":
            succeeded.add(target)
        state = _deployment_state(target in serving, rollout.outcome, target in succeeded)
        url = serving[target].url if target in serving else ""
        found[target] = VersionDeployment(target, state, readable_time(rollout.time), url)
    return list(found.values())


def _deployment_state(serving: bool, last_outcome: str, succeeded: bool) -> str:
    if serving:
        return "serving"
    if last_outcome == "undeployed":
        return "undeployed"
    return "replaced" if succeeded else "failed"
