"""compare_models against the embedded Model Registry: baselines, ranking at scale, significance, reports."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.comparison import ComparisonResult, ranking, run_compare_models
from kfp_model_lifecycle.comparison.recorded_predictions import record_predictions_artifact
from kfp_model_lifecycle.comparison.report import render_html, render_markdown
from kfp_model_lifecycle.lifecycle import promote_model_version
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

ACCURACY_GATE = [{"metric": "accuracy", "higher_is_better": True, "threshold": 0.9, "min_absolute_change": 0.01}]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KML_REGISTRY_URL", "KML_REGISTRY_TOKEN", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)


def _double(value: float) -> dict[str, Any]:
    return {"double_value": value, "metadataType": "MetadataDoubleValue"}


def _string(value: str) -> dict[str, Any]:
    return {"string_value": value, "metadataType": "MetadataStringValue"}


_HTTP: dict[str, httpx.Client] = {}


def _http(registry: EmbeddedRegistry) -> httpx.Client:
    """One keep-alive HTTP client per registry (a new connection per request is 50x slower)."""
    if registry.api_url not in _HTTP:
        _HTTP[registry.api_url] = httpx.Client(base_url=registry.api_url, timeout=30)
    return _HTTP[registry.api_url]


@pytest.fixture(scope="module", autouse=True)
def _close_http_clients() -> Any:
    yield
    for client in _HTTP.values():
        client.close()
    _HTTP.clear()


def _post(registry: EmbeddedRegistry, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = _http(registry).post(path, json=body)
    response.raise_for_status()
    return response.json()


def _model(registry: EmbeddedRegistry, name: str, versions: list[tuple[str, float | None]]) -> dict[str, str]:
    """A registered model with versions (name, accuracy or None); returns version name -> id."""
    model = _post(registry, "/registered_models", {"name": name})
    ids = {}
    for version, accuracy in versions:
        props = {"kfp_run_id": _string(f"run-{version}"), "code_version": _string(f"sha-{version}")}
        if accuracy is not None:
            props["accuracy"] = _double(accuracy)
        created = _post(
            registry,
            "/model_versions",
            {"name": version, "registeredModelId": model["id"], "state": "LIVE", "customProperties": props},
        )
        _post(
            registry,
            f"/model_versions/{created['id']}/artifacts",
            {"artifactType": "model-artifact", "name": name, "uri": f"s3://models/{name}/{version}"},
        )
        ids[version] = created["id"]
    return ids


def _promote(registry: EmbeddedRegistry, reference: str) -> None:
    conn = connect_model_registry(registry.url)
    try:
        promote_model_version(conn, reference, stage="production", reason="test set-up", actor="tester")
    finally:
        conn.close()


def _compare(registry: EmbeddedRegistry, **kwargs: Any) -> ComparisonResult:
    kwargs.setdefault("gates", ACCURACY_GATE)
    return run_compare_models(registry_url=registry.url, **kwargs)


def _write_predictions(path: Path, labels: list[int], predictions: list[int]) -> str:
    rows = "".join(f"{y},{p},{0.9 if p else 0.1}\n" for y, p in zip(labels, predictions, strict=True))
    path.write_text("label,prediction,score\n" + rows)
    return str(path)


def test_candidate_beats_production(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    ids = _model(registry, name, [("1.0.0", 0.90), ("1.0.1", 0.93), ("1.0.2", 0.95)])
    _promote(registry, f"{name}:1.0.1")
    result = _compare(registry, candidate=f"{name}:1.0.2")
    assert result.decision is True and result.winner == f"{name}:1.0.2" and result.winner_role == "candidate"
    assert result.baseline.reference == f"{name}:1.0.1" and result.baseline.stage == "production"
    assert result.baseline_mode == "production"
    assert result.scalars["candidate_accuracy"] == 0.95 and result.scalars["baseline_accuracy"] == 0.93
    assert result.scalars["delta_accuracy"] == pytest.approx(0.02) and result.scalars["decision"] == 1.0
    assert [(p.version, p.role) for p in result.trend] == [
        ("1.0.0", ""),
        ("1.0.1", "baseline"),
        ("1.0.2", "candidate"),
    ]
    assert result.trend[1].stage == "production"
    assert result.candidate.created > 1_600_000_000_000  # timestamps survive the client's to_json
    assert result.candidate.lineage["run id"] == "run-1.0.2"
    assert result.candidate.lineage["model URI"] == f"s3://models/{name}/1.0.2"
    assert result.candidate.version_id == ids["1.0.2"]
    markdown, page = render_markdown(result), render_html(result)
    for text in (markdown, page):
        assert "1.0.2" in text and "0.95" in text and "0.93" in text and "sha-1.0.1" in text and "+0.02" in text


def test_candidate_not_better_by_the_required_change_keeps_production(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    _model(registry, name, [("1", 0.93), ("2", 0.935)])
    _promote(registry, f"{name}:1")
    result = _compare(registry, candidate=f"{name}:2")
    assert result.decision is False and result.winner == f"{name}:1" and result.winner_role == "baseline"
    assert "min_absolute_change" in result.reason and "0.935" in result.reason


def test_first_model_has_no_baseline(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    _model(registry, name, [("1.0.0", 0.92), ("1.0.1", 0.85)])
    result = _compare(registry, candidate=f"{name}:1.0.0")
    assert result.decision is True and result.baseline is None
    assert result.reason == (
        f"no baseline (no version of '{name}' is in production): the candidate passes every threshold"
    )
    assert [c.status for c in result.gates[0].checks] == ["pass", "skipped"]
    below_floor = _compare(registry, candidate=f"{name}:1.0.1")
    assert below_floor.decision is False and below_floor.winner == ""
    assert "misses the floor 0.9" in below_floor.reason
    assert "do not promote" in render_markdown(below_floor)


def test_explicit_references_and_errors(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    _model(registry, name, [("a", 0.91), ("b", 0.95)])
    result = _compare(registry, candidate=f"{name}@latest", baseline=f"{name}:a")
    assert result.decision is True and result.baseline.version_name == "a"
    assert result.baseline_mode == "reference" and result.candidate.version_name == "b"
    short = _compare(registry, candidate=":b", model_name=name, baseline=":a")
    assert short.decision is True
    with pytest.raises(LookupError, match="no version named 'c'"):
        _compare(registry, candidate=f"{name}:c")
    with pytest.raises(LookupError, match="no alias 'champion'"):
        _compare(registry, candidate=f"{name}:b", baseline=f"{name}@champion")
    only_thresholds = _compare(registry, candidate=f"{name}:a", baseline="none")
    assert only_thresholds.decision is True and only_thresholds.baseline is None


def test_candidate_by_version_id_with_metrics_from_the_run(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    ids = _model(registry, name, [("1", 0.93), ("2", None)])
    _promote(registry, f"{name}:1")
    missing = _compare(registry, candidate_version_id=ids["2"])
    assert missing.decision is False
    assert "the candidate has no numeric metric 'accuracy'" in missing.reason
    result = _compare(registry, candidate_version_id=ids["2"], candidate_metrics={"accuracy": 0.96, "f1": 0.9})
    assert result.decision is True
    assert result.candidate.metric_sources["accuracy"] == "metrics artifact"
    with pytest.raises(LookupError, match="no model version with id '999999'"):
        _compare(registry, candidate_version_id="999999")


def test_candidate_already_in_production(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"cmp-{unique}"
    _model(registry, name, [("1", 0.95)])
    _promote(registry, f"{name}:1")
    result = _compare(registry, candidate=f"{name}:1")
    assert result.decision is False and "already is the baseline" in result.reason


def test_inputs_are_checked_before_connecting() -> None:
    with pytest.raises(ValueError, match="unknown key 'treshold'"):
        run_compare_models(gates=[{"metric": "a", "higher_is_better": True, "treshold": 1}], candidate="m:1")
    with pytest.raises(ValueError, match="no candidate"):
        run_compare_models(gates=ACCURACY_GATE)
    with pytest.raises(ValueError, match="significance_test"):
        run_compare_models(gates=ACCURACY_GATE, candidate="m:1", significance_test="t")


def test_rank_all_versions_pages_and_filters_server_side(
    registry: EmbeddedRegistry, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"rank-{unique}"
    rng = random.Random(42)
    versions: list[tuple[str, float | None]] = []
    for i in range(320):
        accuracy = None if i % 10 == 3 else round(rng.uniform(0.80, 0.94), 6)  # 32 versions have no accuracy
        versions.append((f"0.{i}.0", accuracy))
    versions.append(("9.9.9", 0.99))  # the candidate: best of all, so it must be excluded from the ranking
    ids = _model(registry, name, versions)
    # Archive the version with the highest accuracy among the others: ranking considers LIVE versions only.
    best_other = max((v for v in versions[:-1] if v[1] is not None), key=lambda v: v[1])
    archived = best_other[0]
    response = _http(registry).patch(f"/model_versions/{ids[archived]}", json={"state": "ARCHIVED"})
    response.raise_for_status()
    live = [v for v in versions[:-1] if v[1] is not None and v[0] != archived]
    expected = max(live, key=lambda v: v[1])

    page_sizes: list[int] = []
    original = ranking.list_model_versions_page

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        page = original(*args, **kwargs)
        page_sizes.append(len(page.get("items") or []))
        return page

    monkeypatch.setattr(ranking, "list_model_versions_page", spy)
    started = time.perf_counter()
    result = _compare(registry, candidate=f"{name}:9.9.9", baseline="best", page_size=50, trend_versions=20)
    elapsed = time.perf_counter() - started
    ranked = result.ranking
    matching = len(live) + 1  # + the candidate, which the server returns and the client skips
    assert result.baseline.version_name == expected[0]
    assert ranked.value == expected[1] and ranked.scanned == matching
    assert ranked.pages in (math.ceil(matching / 50), math.ceil(matching / 50) + 1)
    assert max(page_sizes) <= 50  # never more than one page in memory
    assert result.decision is True and "best of" in render_markdown(result)
    assert len(result.trend) <= 22 and result.trend[-1].role == "candidate"
    assert elapsed < 30, f"ranking {matching} versions took {elapsed:.1f}s"


def test_rank_without_other_versions_is_no_baseline(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"rank-{unique}"
    _model(registry, name, [("1", 0.95), ("2", None)])
    result = _compare(registry, candidate=f"{name}:1", baseline="best")
    assert result.decision is True and result.baseline is None
    assert "no other LIVE version" in result.reason


def test_significance_with_recorded_baseline_predictions(
    registry: EmbeddedRegistry, unique: str, tmp_path: Path
) -> None:
    name = f"sig-{unique}"
    rng = random.Random(1)
    labels = [rng.randint(0, 1) for _ in range(200)]
    base_pred = [y if i % 10 else 1 - y for i, y in enumerate(labels)]  # 90% right
    slightly = [y if i % 10 or i % 40 == 0 else 1 - y for i, y in enumerate(labels)]  # fixes 5 errors: 92.5%
    much = [y if i % 50 else 1 - y for i, y in enumerate(labels)]  # 98% right
    ids = _model(registry, name, [("1", 0.90), ("2", 0.925), ("3", 0.98)])
    base_file = _write_predictions(tmp_path / "base.csv", labels, base_pred)
    # The baseline's own comparison records its predictions on its version ...
    first = _compare(
        registry,
        candidate=f"{name}:1",
        candidate_predictions_path=base_file,
        candidate_predictions_uri=base_file,
        candidate_predictions_name="predictions",
    )
    assert first.predictions_recorded == "created"
    again = _compare(
        registry, candidate=f"{name}:1", candidate_predictions_path=base_file, candidate_predictions_uri=base_file
    )
    assert again.predictions_recorded == "unchanged"
    # recorded without linking them to the version: its only linked artifact stays the model artifact, which KServe's
    # model-registry:// storage initializer takes as the newest
    linked = _http(registry).get(f"/model_versions/{ids['1']}/artifacts").json()["items"]
    assert [a["artifactType"] for a in linked] == ["model-artifact"]
    recorded = _http(registry).get("/artifact", params={"externalId": f"kml-predictions:{ids['1']}"}).json()
    assert (recorded["name"], recorded["uri"]) == (f"predictions-dataset-of-version-{ids['1']}", base_file)
    _promote(registry, f"{name}:1")

    # ... so a later comparison against it finds them: +2.5 points pass the gate but are not significant.
    cand_file = _write_predictions(tmp_path / "slightly.csv", labels, slightly)
    result = _compare(registry, candidate=f"{name}:2", candidate_predictions_path=cand_file, seed=7)
    sig = result.significance
    assert result.gates[0].passed is True
    assert sig.method == "mcnemar" and sig.mcnemar.b == 5 and sig.mcnemar.c == 0
    assert sig.mcnemar.p_value == pytest.approx(2 / 32)
    assert sig.status == "not significant" and result.decision is False
    assert result.winner == f"{name}:1" and "not statistically significant" in result.reason
    assert result.baseline.predictions == base_file
    assert "0.0625" in render_markdown(result) and "0.0625" in render_html(result)

    much_file = _write_predictions(tmp_path / "much.csv", labels, much)
    better = _compare(registry, candidate=f"{name}:3", candidate_predictions_path=much_file, seed=7)
    assert better.significance.status == "significant" and better.decision is True
    assert better.scalars["mcnemar_p_value"] < 0.01 and better.scalars["bootstrap_ci_low"] > 0
    repeat = _compare(registry, candidate=f"{name}:3", candidate_predictions_path=much_file, seed=7)
    assert repeat.significance == better.significance  # seeded: reproducible

    explicit = _compare(
        registry, candidate=f"{name}:3", candidate_predictions_path=much_file, baseline_predictions_path=much_file
    )
    assert explicit.significance.status == "not significant"  # identical predictions: no difference


def test_unreadable_recorded_predictions(registry: EmbeddedRegistry, unique: str, tmp_path: Path) -> None:
    name = f"sig-{unique}"
    ids = _model(registry, name, [("1", 0.90), ("2", 0.95)])
    conn = connect_model_registry(registry.url)
    try:
        assert record_predictions_artifact(conn, ids["1"], "s3://bucket/p.csv") == "created"
        assert record_predictions_artifact(conn, ids["1"], "s3://bucket/p2.csv") == "updated"
    finally:
        conn.close()
    _promote(registry, f"{name}:1")
    labels = [1, 0, 1, 1]
    cand_file = _write_predictions(tmp_path / "c.csv", labels, labels)
    result = _compare(registry, candidate=f"{name}:2", candidate_predictions_path=cand_file)
    assert result.decision is True and result.significance.status == "not tested"
    assert any("s3://bucket/p2.csv" in note and "baseline_predictions" in note for note in result.notes)
    strict = _compare(registry, candidate=f"{name}:2", candidate_predictions_path=cand_file, require_significance=True)
    assert strict.decision is False and "significance required" in strict.reason
    with pytest.raises(FileNotFoundError, match="candidate_predictions"):
        _compare(registry, candidate=f"{name}:2", candidate_predictions_path=str(tmp_path / "missing.csv"))
