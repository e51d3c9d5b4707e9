"""compare_models in pipelines run by KFP's local runner: branching on the decision, and register -> compare -> promote.

No ``from __future__ import annotations`` here: KFP reads the annotations of the components defined below.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest
from kfp import compiler, components, dsl
from kfp.dsl import Dataset, Metrics, Model, Output

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.components.compare_models import compare_models
from kfp_model_lifecycle.components.promote_model import promote_model_with_context
from kfp_model_lifecycle.components.register_model import register_model_with_lineage
from kfp_model_lifecycle.lifecycle import lifecycle_history, resolve_model_reference
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

GATES = [{"metric": "accuracy", "higher_is_better": True, "threshold": 0.9, "min_absolute_change": 0.005}]


@dsl.component(base_image="python:3.11")
def mark(path: str, text: str):
    """Append a line to a file (records which branch ran)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")


@dsl.component(base_image="python:3.11")
def train_stub(errors: int, model: Output[Model], metrics: Output[Metrics], predictions: Output[Dataset], n: int = 200):
    """A dummy model whose per-example predictions are wrong on the first ``errors`` of ``n`` examples."""
    with open(model.path, "w", encoding="utf-8") as handle:
        handle.write(f"model with {errors} errors")
    model.metadata["framework"] = "sklearn"
    model.metadata["framework_version"] = "1"
    rows = ["label,prediction,score"]
    for i in range(n):
        label = i % 2
        prediction = 1 - label if i < errors else label
        rows.append(f"{label},{prediction},{0.8 if prediction else 0.2}")
    with open(predictions.path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    metrics.log_metric("accuracy", (n - errors) / n)


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """Every test here starts without registry/token/namespace variables (see conftest.isolated_env)."""


@pytest.fixture(scope="module")
def compiled_compare_models(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The component as users get it: compiled to YAML and loaded back (it runs the installed package)."""
    path = tmp_path_factory.mktemp("compiled") / "compare_models.yaml"
    compiler.Compiler().compile(compare_models, str(path))
    text = path.read_text()
    assert "kfp_model_lifecycle.comparison.task" in text and "compare_models_task(**arguments)" in text
    return components.load_component_from_file(str(path))


def _model_with_versions(registry: EmbeddedRegistry, name: str, accuracies: list[float]) -> None:
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model = http.post("/registered_models", json={"name": name}).json()
        for i, accuracy in enumerate(accuracies):
            http.post(
                "/model_versions",
                json={
                    "name": f"{i + 1}",
                    "registeredModelId": model["id"],
                    "customProperties": {"accuracy": {"double_value": accuracy, "metadataType": "MetadataDoubleValue"}},
                },
            ).raise_for_status()


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize(("candidate", "decision"), [("2", True), ("3", False)])
def test_branch_on_the_decision_without_else(
    local_runner: Path,
    registry: EmbeddedRegistry,
    unique: str,
    tmp_path: Path,
    compiled_compare_models: Any,
    candidate: str,
    decision: bool,
) -> None:
    name = f"branch-{unique}"
    _model_with_versions(registry, name, [0.91, 0.95, 0.85])  # version 1 is the baseline (explicit reference)
    marker = tmp_path / "branch.txt"

    @dsl.pipeline(name="compare-and-branch")
    def compare_and_branch() -> str:
        cmp = compiled_compare_models(
            candidate=f"{name}:{candidate}", baseline=f"{name}:1", gates=GATES, registry_url=registry.url
        )
        with dsl.If(cmp.outputs["Output"] == True):  # noqa: E712 - a pipeline condition, not a Python comparison
            mark(path=str(marker), text="promote")
        return cmp.outputs["winner"]

    winner = compare_and_branch().output
    assert winner == (f"{name}:{candidate}" if decision else f"{name}:1")
    assert _lines(marker) == (["promote"] if decision else [])


@pytest.mark.parametrize(("candidate", "branch"), [("2", "promote"), ("3", "keep")])
def test_branch_on_the_decision_with_else(
    local_runner: Path, registry: EmbeddedRegistry, unique: str, tmp_path: Path, candidate: str, branch: str
) -> None:
    name = f"branch-{unique}"
    _model_with_versions(registry, name, [0.91, 0.95, 0.85])
    marker = tmp_path / "branch.txt"

    @dsl.pipeline(name="compare-if-else")
    def compare_if_else() -> str:
        cmp = compare_models(
            candidate=f"{name}:{candidate}", baseline=f"{name}:1", gates=GATES, registry_url=registry.url
        )
        with dsl.If(cmp.outputs["Output"] == True):  # noqa: E712 - a pipeline condition
            mark(path=str(marker), text="promote")
        with dsl.Else():
            mark(path=str(marker), text="keep")
        return cmp.outputs["reason"]

    reason = compare_if_else().output
    assert _lines(marker) == [branch]
    assert ("beats" in reason) == (branch == "promote")


def _train_register_compare_promote(name: str, registry_url: str, errors: int) -> Any:
    @dsl.pipeline(name="train-compare-promote")
    def train_compare_promote() -> str:
        train = train_stub(errors=errors)
        reg = register_model_with_lineage(
            train.outputs["model"], name, metrics=train.outputs["metrics"], registry_url=registry_url
        )
        cmp = compare_models(
            candidate_model=reg.outputs["registered_model"],
            candidate_metrics=train.outputs["metrics"],
            candidate_predictions=train.outputs["predictions"],
            gates=GATES,
            registry_url=registry_url,
            seed=1,
        )
        with dsl.If(cmp.outputs["Output"] == True):  # noqa: E712 - a pipeline condition
            promote_model_with_context(
                cmp.outputs["winner"],
                stage="production",
                reason=cmp.outputs["reason"],
                evidence_uri=cmp.outputs["report_uri"],
                registry_url=registry_url,
            )
        return cmp.outputs["report_uri"]

    return train_compare_promote().output


@pytest.mark.slow
def test_register_compare_promote_end_to_end(
    local_runner: Path, registry: EmbeddedRegistry, unique: str, tmp_path: Path
) -> None:
    name = f"e2e-{unique}"
    conn = connect_model_registry(registry.url)
    try:
        # Run 1: the first model has no baseline; it passes the floor and is promoted.
        report_1 = _train_register_compare_promote(name, registry.url, 16)  # accuracy 0.92
        assert resolve_model_reference(conn, name).reference == f"{name}:1.0.0"
        html_1 = Path(report_1).read_text()
        assert "Decision: promote <b>" in html_1 and "no baseline" in html_1

        # Run 2: +1 point of accuracy passes the gate, but 2 fixed errors out of 200 are not significant.
        report_2 = _train_register_compare_promote(name, registry.url, 14)  # accuracy 0.93
        assert resolve_model_reference(conn, name).reference == f"{name}:1.0.0"
        html_2 = Path(report_2).read_text()
        assert "Decision: keep <b>" in html_2 and "not statistically significant" in html_2
        assert "b = 2, baseline alone right c = 0" in html_2  # the baseline's predictions came from the registry

        # Run 3: 14 fewer errors is significant (McNemar p = 2 / 2^14): promoted, with the report as evidence.
        report_3 = _train_register_compare_promote(name, registry.url, 2)  # accuracy 0.99
        assert resolve_model_reference(conn, name).reference == f"{name}:1.0.2"
        html_3 = Path(report_3).read_text()
        assert "Decision: promote <b>" in html_3 and "significantly better" in html_3
        markdown_3 = Path(report_3).parent / "report_markdown"
        assert "**Decision: promote" in markdown_3.read_text()
        events = [e for e in lifecycle_history(conn, name)["events"] if e["type"] == "stage"]
        assert [e["version"] for e in events] == ["1.0.0", "1.0.2"]
        assert events[-1]["evidence"]["report_uri"] == report_3
        assert "beats" in events[-1]["reason"]
    finally:
        conn.close()
