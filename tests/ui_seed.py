"""Known registry data for the ``kml ui`` tests (tests/test_ui_app.py, tests/test_ui_browser.py).

Written the way users write it: versions registered and promoted through the ``Lifecycle`` API, a rejection
recorded by ``record_model_event``'s job with its comparison report, a rollout recorded by ``deploy_model``'s
recording code, and -- through the REST API, as any other client may -- a model and a metric whose names are HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.deployment.recording import record_rollout
from kfp_model_lifecycle.deployment.records import ensure_registry_inference_service, ensure_serving_environment
from kfp_model_lifecycle.deployment.rollout import RolloutResult
from kfp_model_lifecycle.lifecycle import find_model_by_name, find_model_version
from kfp_model_lifecycle.lifecycle.recording import run_record_model_event
from kfp_model_lifecycle.lineage import RunContext

MODEL = "iris"
EVIL_MODEL = '<script>alert("model")</script>'
EVIL_METRIC = "<script>alert(1)</script>"
EMPTY_MODEL = "empty-model"
NAMESPACE = "kubeflow-user"
SERVICE = "iris"
SERVICE_URL = "http://iris.kubeflow-user.example.com"
ACCURACY = {"1.0.0": 0.91, "1.0.1": 0.95, "1.0.2": 0.89, "1.0.3": 0.96}


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_registry` wrote.

    Attributes:
        registry_url: The registry.
        rejection_report: The report the rejection of 1.0.2 points at.
        promotion_report: The report the promotion of 1.0.1 points at.
        production: The production version.
    """

    registry_url: str
    rejection_report: Path
    promotion_report: Path
    production: str = "1.0.1"


def _register(lc: Lifecycle, workdir: Path, version: str) -> None:
    model = workdir / f"model-{version}.joblib"
    model.write_bytes(version.encode())
    lc.register(
        MODEL,
        str(model),
        version=version,
        model_format="sklearn",
        metrics={"accuracy": ACCURACY[version], "f1": ACCURACY[version] - 0.01},
        hyperparameters={"C": 1.0, "max_iter": 100 + int(version[-1])},
        datasets={"train": str(workdir / "train.csv"), "test": str(workdir / "test.csv")},
        code_version="abc1234",
        author="alice",
    )


def _record_deployment(registry_url: str, version_name: str) -> None:
    manifest = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://bucket/iris"}}},
    }
    rollout = RolloutResult(ok=True, created=True, changed=True, spec_changed=True, canary=0, phases=["created"],
                            url=SERVICE_URL, object=None, previous=None)  # fmt: skip
    with connect_model_registry(registry_url, env={}) as conn:
        model = find_model_by_name(conn, MODEL)
        version = find_model_version(conn, model, version_name)
        environment = ensure_serving_environment(conn, NAMESPACE)
        record = ensure_registry_inference_service(conn, environment, SERVICE, model, version)
        record_rollout(
            conn,
            record=record,
            model=model,
            version=version,
            manifest=manifest,
            rollout=rollout,
            previous_version=None,
            context=RunContext(),
            actor="user:bob",
            reason="first rollout",
        )


def _html_named_model(registry_url: str) -> None:
    """A model and a metric whose names are HTML, written through the REST API (the name has a '/')."""
    api = registry_url + "/api/model_registry/v1"
    model = httpx.post(f"{api}/registered_models", json={"name": EVIL_MODEL}, timeout=10)
    model.raise_for_status()
    version = httpx.post(
        f"{api}/model_versions",
        json={
            "name": "1.0.0",
            "registeredModelId": model.json()["id"],
            "customProperties": {
                EVIL_METRIC: {"metadataType": "MetadataDoubleValue", "double_value": 0.5},
                "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.7},
            },
        },
        timeout=10,
    )
    version.raise_for_status()
    httpx.post(f"{api}/registered_models", json={"name": EMPTY_MODEL}, timeout=10).raise_for_status()


def seed_registry(registry_url: str, workdir: Path) -> Seeded:
    """Write the known data.

    Returns:
        What was written.
    """
    (workdir / "train.csv").write_text("x,y\n1,0\n2,1\n")
    (workdir / "test.csv").write_text("x,y\n3,1\n")
    promotion = workdir / "report-1.0.1.html"
    promotion.write_text("<html><body>1.0.1 beats 1.0.0</body></html>")
    rejection = workdir / "report-1.0.2.html"
    rejection.write_text("<html><body>1.0.2 loses</body></html>")
    with Lifecycle(registry_url, actor="user:alice", env={}) as lc:
        for version in ACCURACY:
            _register(lc, workdir, version)
        lc.promote(f"{MODEL}:1.0.0", "production", aliases=["champion"], reason="first model")
        lc.promote(f"{MODEL}:1.0.1", "production", aliases=["champion"], reason="accuracy 0.91 -> 0.95",
                   evidence_uri=str(promotion))  # fmt: skip
        run_record_model_event(
            model_reference=f"{MODEL}:1.0.2",
            event_type="rejection",
            reason="accuracy 0.89 is below the champion's 0.95",
            evidence_uri=str(rejection),
            actor="kfp-run:nightly",
            registry_url=registry_url,
            env={},
            context=RunContext(),
        )
        lc.approve(f"{MODEL}:1.0.3", comment="reviewed the report")
        lc.promote(f"{MODEL}:1.0.3", "staging", aliases=["candidate"], reason="next candidate")
    _record_deployment(registry_url, "1.0.1")
    _html_named_model(registry_url)
    return Seeded(registry_url, rejection, promotion)
