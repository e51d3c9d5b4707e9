"""Filling both registries with existing versions over HTTP, fast: keep-alive connections, a few threads.

Standard library only. Versions in the embedded registry carry the properties a ``register_model`` run records
(lineage, metrics, hyperparameters) and the ``semver_high_water`` mark it writes; MLflow versions carry as many tags.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

REGISTRY_API = "/api/model_registry/v1"
MLFLOW_API = "/api/2.0/mlflow"
THREADS = 4


class Http:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 (one per thread); JSON in and out."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; returns the status and the decoded JSON (reconnects once on a dropped connection)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else {})
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def expect(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Like :meth:`request`, raising when the status is not ``status``."""
        got, answer = self.request(method, path, body)
        if got != status:
            raise RuntimeError(f"{method} {path}: HTTP {got}: {str(answer)[:300]}")
        return answer

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def parallel(port: int, jobs: Iterable[Any], work: Callable[[Http, Any], None], threads: int = THREADS) -> None:
    """Run ``work(http, job)`` for every job on ``threads`` threads, each with its own connection."""
    local = threading.local()
    clients: list[Http] = []

    def run(job: Any) -> None:
        if not hasattr(local, "http"):
            local.http = Http(port)
            clients.append(local.http)
        work(local.http, job)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, jobs))
    for client in clients:
        client.close()


def string_value(value: Any) -> dict[str, Any]:
    """A registry ``customProperties`` value (typed as the registration writes them)."""
    if isinstance(value, bool):
        return {"bool_value": value, "metadataType": "MetadataBoolValue"}
    if isinstance(value, int):
        return {"int_value": str(value), "metadataType": "MetadataIntValue"}
    if isinstance(value, float):
        return {"double_value": value, "metadataType": "MetadataDoubleValue"}
    return {"string_value": str(value), "metadataType": "MetadataStringValue"}


def lineage(i: int) -> dict[str, Any]:
    """The properties of a registered version (what ``register_model`` records for a pipeline run)."""
    return {
        "kfp_run_id": f"run-{i:06d}",
        "kfp_run_name": f"train-{i:06d}",
        "kfp_pipeline_name": "train-and-register",
        "kfp_task_name": "register-model",
        "kfp_namespace": "team-a",
        "kfp_model_uri": f"s3://models/bench/{i}",
        "code_version": "3f9c2a1",
        "training_image": "python:3.11",
        "accuracy": 0.8 + (i % 200) / 1000,
        "f1": 0.7 + (i % 300) / 1000,
        "roc_auc": 0.9 + (i % 100) / 1000,
        "hp_n_estimators": 100 + i % 50,
        "hp_max_depth": 5 + i % 5,
        "hp_learning_rate": 0.1,
        "framework": ("sklearn", "xgboost", "pytorch")[i % 3],
    }


def seed_registry(port: int, model_name: str, count: int, *, marked: bool = True) -> str:
    """A registered model with ``count`` versions ``1.0.0``... (marks as ``register_model`` writes them).

    Returns:
        The model id.
    """
    client = Http(port)
    found, model = client.request("GET", f"{REGISTRY_API}/registered_model?name={model_name}")
    if found != 200:
        model = client.expect("POST", f"{REGISTRY_API}/registered_models", {"name": model_name}, 201)
    client.close()

    def create(http: Http, i: int) -> None:
        name = f"1.{i // 1000}.{i % 1000}"
        props = {k: string_value(v) for k, v in lineage(i).items()}
        if marked:
            props["semver_high_water"] = string_value(name)
        body = {"name": name, "registeredModelId": model["id"], "customProperties": props, "state": "LIVE"}
        http.expect("POST", f"{REGISTRY_API}/model_versions", {**body, "externalId": f"seed:{model_name}:{i}"}, 201)

    parallel(port, range(count), create)
    return str(model["id"])


def seed_mlflow(port: int, model_name: str, count: int, tags: int = 2) -> None:
    """A registered model with ``count`` versions in MLflow (``tags`` tags each)."""
    client = Http(port)
    status, _ = client.request("POST", f"{MLFLOW_API}/registered-models/create", {"name": model_name})
    client.close()
    if status not in (200, 400):  # 400: RESOURCE_ALREADY_EXISTS
        raise RuntimeError(f"MLflow: creating registered model {model_name!r}: HTTP {status}")

    def create(http: Http, i: int) -> None:
        pairs = list(lineage(i).items())[:tags]
        body = {
            "name": model_name,
            "source": f"s3://models/bench/{i}",
            "tags": [{"key": k, "value": str(v)} for k, v in pairs],
        }
        http.expect("POST", f"{MLFLOW_API}/model-versions/create", body)

    parallel(port, range(count), create)
