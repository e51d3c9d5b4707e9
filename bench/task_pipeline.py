"""The pipeline of ``bench/tasks.py``: every component of this package once, and two trivial components.

No ``from __future__ import annotations``: KFP reads the annotations of the components defined here.
"""

from typing import Any

from kfp import dsl
from kfp.dsl import Metrics, Model, Output

from kfp_model_lifecycle.components import (
    approve_model,
    compare_models,
    compare_versions,
    deploy_model,
    promote_model,
    record_model_event,
    register_model,
    rollback_deployment,
)

GATES = [{"metric": "accuracy", "higher_is_better": True, "min_relative_change": 0.0}]


@dsl.component(base_image="python:3.11")
def trivial() -> str:
    """A trivial user component with KFP's defaults (KFP installs ``kfp`` at start-up)."""
    return "ok"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def trivial_no_install() -> str:
    """The least a task costs: no package installed at start-up."""
    return "ok"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def make_model(source: str, accuracy: float, model: Output[Model], metrics: Output[Metrics]):
    """A trained model stand-in: copies a saved sklearn model (KServe's layout) and reports its accuracy."""
    import os
    import shutil

    os.makedirs(model.path, exist_ok=True)
    shutil.copyfile(source, os.path.join(model.path, "model.joblib"))
    model.metadata["framework"] = "sklearn"
    model.metadata["framework_version"] = "1"
    metrics.log_metric("accuracy", accuracy)


def build(model_name: str, model_file: str, registry_url: str, with_deploy: bool) -> Any:
    """The pipeline: each component once (deploy_model twice: a rollback needs an earlier deployment)."""

    @dsl.pipeline(name="bench-tasks")
    def bench_tasks() -> None:
        url = registry_url
        latest, champion = f"{model_name}@latest", f"{model_name}@champion"
        reference = trivial()
        bare = trivial_no_install().after(reference)
        first = make_model(source=model_file, accuracy=0.90).after(bare)
        out1 = first.outputs
        reg1 = register_model(model=out1["model"], model_name=model_name, metrics=out1["metrics"], registry_url=url)
        promote = promote_model(model_reference=latest, stage="production", aliases=["champion"], registry_url=url)
        second = make_model(source=model_file, accuracy=0.95).after(promote.after(reg1))
        out2 = second.outputs
        reg2 = register_model(model=out2["model"], model_name=model_name, metrics=out2["metrics"], registry_url=url)
        compare = compare_models(candidate_model=reg2.outputs["registered_model"], gates=GATES, registry_url=url)
        board = compare_versions(metrics=["accuracy"], model_name=model_name, registry_url=url).after(compare)
        approve = approve_model(model_reference=latest, comment="bench", registry_url=url).after(board)
        event = record_model_event(model_reference=latest, event_type="rejection", reason="bench", registry_url=url)
        event.after(approve)
        if with_deploy:
            deploy = deploy_model(model_reference=champion, timeout_seconds=120, registry_url=url).after(event)
            update = deploy_model(model_reference=latest, timeout_seconds=120, registry_url=url).after(deploy)
            rollback_deployment(model_name=model_name, timeout_seconds=120, registry_url=url).after(update)

    return bench_tasks
