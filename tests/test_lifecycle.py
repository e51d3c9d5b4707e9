"""The lifecycle against an embedded Model Registry: stages, aliases, approvals, audit trail, dry runs, repair."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lifecycle.approval import approve_model_version
from kfp_model_lifecycle.lifecycle.audit import lifecycle_history, record_lifecycle_event
from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.events import append_lifecycle_event, read_lifecycle_events
from kfp_model_lifecycle.lifecycle.policy import set_lifecycle_policy
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.properties import plain_properties, utc_timestamp
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture
def conn(registry: EmbeddedRegistry) -> Iterator[dict[str, Any]]:
    connection = connect_model_registry(registry.url)
    yield connection
    connection.close()


def create_versions(registry: EmbeddedRegistry, name: str, count: int, **extra: Any) -> None:
    """A registered model with versions 1.0.0, 1.0.1, ... (accuracy, lineage and a label each), over REST."""
    api = registry.api_url
    with httpx.Client(timeout=30) as http:
        model = http.post(f"{api}/registered_models", json={"name": name, "owner": "tester"}).raise_for_status()
        model_id = model.json()["id"]
        for i in range(count):
            props = {
                "accuracy": {"double_value": 0.9 + i / 100, "metadataType": "MetadataDoubleValue"},
                "kfp_run_id": {"string_value": f"run-{i}", "metadataType": "MetadataStringValue"},
                "nightly": {"string_value": "", "metadataType": "MetadataStringValue"},
                **extra,
            }
            body = {"name": f"1.0.{i}", "registeredModelId": model_id, "author": "tester", "customProperties": props}
            version = http.post(f"{api}/model_versions", json=body).raise_for_status().json()
            artifact = {
                "artifactType": "model-artifact",
                "name": name,
                "uri": f"s3://bucket/{name}/{i}",
                "modelFormatName": "sklearn",
                "modelFormatVersion": "1",
            }
            http.post(f"{api}/model_versions/{version['id']}/artifacts", json=artifact).raise_for_status()


@pytest.fixture
def model(registry: EmbeddedRegistry, unique: str) -> str:
    """A registered model with versions 1.0.0 .. 1.0.3."""
    name = f"life-{unique}"
    create_versions(registry, name, 4)
    return name


def _get(registry: EmbeddedRegistry, path: str, **params: Any) -> Any:
    response = httpx.get(registry.api_url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _version(registry: EmbeddedRegistry, conn: RegistryConnection, name: str, version: str) -> dict[str, Any]:
    found = resolve_model_reference(conn, f"{name}:{version}", repair=False, with_artifact=False).version
    return _get(registry, f"/model_versions/{found['id']}")


def _props(entity: dict[str, Any]) -> dict[str, Any]:
    return plain_properties(entity)


def _snapshot(registry: EmbeddedRegistry) -> dict[str, Any]:
    """Every entity the lifecycle could touch, as the REST API returns it."""
    return {
        path: _get(registry, path, orderBy="ID")["items"]
        for path in ("/registered_models", "/model_versions", "/artifacts")
    }


def test_promotion_demotes_the_previous_holder_and_keeps_other_properties(
    registry: EmbeddedRegistry, conn: RegistryConnection, model: str
) -> None:
    first = promote_model_version(
        conn,
        f"{model}:1.0.0",
        stage="production",
        reason="first",
        actor="alice",
        evidence={"report_uri": "s3://reports/1.html", "run_id": "r1"},
    )
    assert (first.previous_holder, first.new_holder, first.stage) == ("", f"{model}:1.0.0", "production")
    second = promote_model_version(conn, f"{model}:1.0.1", stage="production", reason="better", actor="bob")
    assert second.previous_holder == f"{model}:1.0.0" and second.previous_stage == "development"

    old, new = _version(registry, conn, model, "1.0.0"), _version(registry, conn, model, "1.0.1")
    assert old["state"] == "ARCHIVED" and new["state"] == "LIVE"
    assert _props(old)["kml_stage"] == "archived" and "kml:stage=archived" in _props(old)
    assert "kml:stage=production" not in _props(old)
    assert _props(new)["kml_stage"] == "production" and _props(new)["kml:stage=production"] == ""
    for version in (old, new):  # register_model's metrics, lineage and labels survive
        assert {"accuracy", "kfp_run_id", "nightly"} <= set(_props(version))
    model_props = _props(find_model_by_name(conn, model))
    assert model_props["kml_production_version_id"] == new["id"] and model_props["kml_event_seq"] == 2
    assert resolve_model_reference(conn, model).version["id"] == new["id"]
    assert resolve_model_reference(conn, f"{model}@production").version["id"] == new["id"]
    assert resolve_model_reference(conn, f"{model}@archived").version["id"] == old["id"]

    # The events are doc-artifacts NOT linked to their versions (KServe's model-registry:// initializer takes a
    # version's newest artifact and needs the model artifact), naming the version, with the evidence URI as uri.
    linked = _get(registry, f"/model_versions/{new['id']}/artifacts")["items"]
    assert [a["artifactType"] for a in linked] == ["model-artifact"]
    second_event = _get(registry, "/artifact", externalId=f"kml-event:{new['registeredModelId']}:2")
    assert second_event["customProperties"]["kml_event_version_id"]["string_value"] == new["id"]
    first_event = _get(registry, "/artifact", externalId=f"kml-event:{new['registeredModelId']}:1")
    assert first_event["uri"] == "s3://reports/1.html"
    assert "stage 1.0.0: development -> production by alice: first" in first_event["description"]


def test_idempotent_promotion_writes_nothing(registry: EmbeddedRegistry, conn: RegistryConnection, model: str) -> None:
    promote_model_version(conn, f"{model}:1.0.2", stage="staging", aliases=["challenger"])
    before = _snapshot(registry)
    again = promote_model_version(conn, f"{model}:1.0.2", stage="staging", aliases=["challenger"])
    assert not again.changed and again.event_seq == 0 and again.previous_holder == ""
    assert _snapshot(registry) == before


def test_aliases_are_unique_per_model_and_several_per_version(
    registry: EmbeddedRegistry, conn: RegistryConnection, model: str
) -> None:
    promote_model_version(conn, f"{model}:1.0.0", aliases=["champion", "stable"])
    moved = promote_model_version(conn, f"{model}:1.0.1", aliases=["champion"], reason="new champion")
    assert moved.previous_holder == f"{model}:1.0.0" and moved.aliases == ["champion"]
    assert resolve_model_reference(conn, f"{model}@champion").reference == f"{model}:1.0.1"
    assert resolve_model_reference(conn, f"{model}@stable").reference == f"{model}:1.0.0"
    holders = [v for v in _get(registry, "/model_versions")["items"] if "kml:@champion" in v["customProperties"]]
    assert [v["name"] for v in holders if v["registeredModelId"] == moved.model_id] == ["1.0.1"]
    removed = promote_model_version(conn, f"{model}@stable", remove_aliases=["stable"])
    assert removed.aliases == [] and "kml:@stable" not in _props(_version(registry, conn, model, "1.0.0"))
    with pytest.raises(LookupError, match=r"no alias 'stable': its aliases are @champion"):
        resolve_model_reference(conn, f"{model}@stable")
    with pytest.raises(ValueError, match="reserved"):
        promote_model_version(conn, f"{model}:1.0.0", aliases=["latest"])
    with pytest.raises(ValueError, match="both set and removed"):
        promote_model_version(conn, f"{model}:1.0.0", aliases=["x"], remove_aliases=["x"])
    history = lifecycle_history(conn, model, event_type="alias")["events"]
    assert [(e["alias"], e["from"], e["to"]) for e in history] == [
        ("champion", "", "1.0.0"),
        ("stable", "", "1.0.0"),
        ("champion", "1.0.0", "1.0.1"),
        ("stable", "1.0.0", ""),
    ]


def test_approval_required_before_production(registry: EmbeddedRegistry, conn: RegistryConnection, model: str) -> None:
    promote_model_version(conn, f"{model}:1.0.0", stage="production")
    policy = set_lifecycle_policy(conn, model, require_approval=True, actor="lead", reason="regulated model")
    assert policy.changed and policy.policy.requires_approval and not policy.previous.requires_approval
    with pytest.raises(PermissionError, match=r"requires approval before production .* status is 'none'"):
        promote_model_version(conn, f"{model}:1.0.1", stage="production", reason="try")
    approve_model_version(conn, f"{model}:1.0.1", status="pending", approver="alice", comment="please review")
    with pytest.raises(ValueError, match="needs a comment"):
        approve_model_version(conn, f"{model}:1.0.1", status="rejected")
    approve_model_version(conn, f"{model}:1.0.1", status="rejected", approver="bob", comment="eval set leaked")
    with pytest.raises(PermissionError, match="rejected by bob: eval set leaked"):
        promote_model_version(conn, f"{model}:1.0.1", stage="production")
    assert resolve_model_reference(conn, model).reference == f"{model}:1.0.0"  # unchanged
    approved = approve_model_version(conn, f"{model}:1.0.1", approver="bob", comment="fixed, re-evaluated")
    assert (approved.previous_status, approved.status) == ("rejected", "approved")
    assert promote_model_version(conn, f"{model}:1.0.1", stage="production").previous_holder == f"{model}:1.0.0"
    props = _props(_version(registry, conn, model, "1.0.1"))
    assert props["kml_approval_status"] == "approved" and props["kml_approval_by"] == "bob"
    assert props["kml:approval=approved"] == "" and "kml:approval=rejected" not in props
    # A rollback re-promotes a version that was in production before, without a new approval.
    assert promote_model_version(conn, model, rollback=True).reference == f"{model}:1.0.0"
    events = lifecycle_history(conn, model)["events"]
    assert [e["type"] for e in events] == [
        "stage",
        "policy",
        "rejection",
        "approval",
        "approval",
        "rejection",
        "approval",
        "stage",
        "stage",
    ]
    assert events[2]["refusal"].startswith(f"{model}:1.0.1 cannot go to production")
    assert events[1]["actor"] == "lead" and events[1]["reason"] == "regulated model"


def test_forbidden_transitions_fail_clearly_and_change_nothing_but_the_record(
    registry: EmbeddedRegistry, conn: RegistryConnection, model: str
) -> None:
    set_lifecycle_policy(conn, model, allowed_transitions={"development": ["staging"], "staging": ["production"]})
    with pytest.raises(ValueError, match=r"from development to production is not allowed by the model's"):
        promote_model_version(conn, f"{model}:1.0.0", stage="production")
    version = _version(registry, conn, model, "1.0.0")
    assert "kml_stage" not in _props(version)
    promote_model_version(conn, f"{model}:1.0.0", stage="staging")
    promote_model_version(conn, f"{model}:1.0.0", stage="production")
    with pytest.raises(ValueError, match=r"from production it may move to nothing"):
        promote_model_version(conn, f"{model}:1.0.0", stage="staging")
    with pytest.raises(ValueError, match="not a lifecycle stage"):
        promote_model_version(conn, f"{model}:1.0.0", stage="prod")
    with pytest.raises(ValueError, match="nothing to do"):
        promote_model_version(conn, f"{model}:1.0.0")


def test_dry_run_changes_nothing(registry: EmbeddedRegistry, conn: RegistryConnection, model: str) -> None:
    promote_model_version(conn, f"{model}:1.0.0", stage="production", aliases=["champion"])
    set_lifecycle_policy(conn, model, require_approval=True)
    before = _snapshot(registry)
    # Approval is required: the dry run fails like the real promotion would (and records no rejection).
    with pytest.raises(PermissionError):
        promote_model_version(conn, f"{model}:1.0.1", stage="production", dry_run=True)
    approval = approve_model_version(conn, f"{model}:1.0.1", dry_run=True)
    assert approval.dry_run and approval.summary[0].startswith("(dry run) #")
    set_lifecycle_policy(conn, model, require_approval=False, dry_run=True)
    plan = promote_model_version(conn, f"{model}:1.0.2", stage="staging", aliases=["champion"], dry_run=True)
    assert plan.changed and plan.dry_run and plan.stage == "staging" and plan.aliases == ["champion"]
    assert plan.previous_holder == f"{model}:1.0.0"
    assert [e["seq"] for e in plan.events] == [4, 5]
    with pytest.raises(LookupError, match="nothing to roll back to"):
        promote_model_version(conn, model, rollback=True, dry_run=True)
    assert _snapshot(registry) == before


def test_rollback_walks_back_and_explains_when_it_cannot(
    registry: EmbeddedRegistry, conn: RegistryConnection, model: str
) -> None:
    with pytest.raises(LookupError, match="nothing to roll back to"):
        promote_model_version(conn, model, rollback=True)
    for i in range(3):
        promote_model_version(conn, f"{model}:1.0.{i}", stage="production", reason=f"release {i}")
    dry = promote_model_version(conn, model, rollback=True, dry_run=True)
    assert dry.reference == f"{model}:1.0.1" and dry.previous_holder == f"{model}:1.0.2"
    first = promote_model_version(conn, model, rollback=True, reason="latency regression", actor="oncall")
    assert (first.reference, first.previous_holder, first.rollback) == (
        f"{model}:1.0.1",
        f"{model}:1.0.2",
        True,
    )
    second = promote_model_version(conn, model, rollback=True, reason="still bad")
    assert second.reference == f"{model}:1.0.0"
    with pytest.raises(LookupError, match=r"no earlier production version \(production history: 1.0.0, 1.0.1"):
        promote_model_version(conn, model, rollback=True)
    last = lifecycle_history(conn, model)["events"][-1]
    assert last["rollback"] and last["demoted_version"] == "1.0.1" and last["reason"] == "still bad"
    with pytest.raises(ValueError, match="rollback takes the model name"):
        promote_model_version(conn, f"{model}:1.0.1", rollback=True)
    assert _version(registry, conn, model, "1.0.2")["state"] == "ARCHIVED"


def test_history_is_ordered_and_filterable(conn: RegistryConnection, model: str) -> None:
    promote_model_version(conn, f"{model}:1.0.0", stage="staging", reason="a")
    promote_model_version(conn, f"{model}:1.0.0", stage="production", reason="b")
    promote_model_version(conn, f"{model}:1.0.1", stage="production", aliases=["champion"], reason="c")
    events = lifecycle_history(conn, model)["events"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert [(e["from"], e["to"]) for e in events if e["type"] == "stage"] == [
        ("development", "staging"),
        ("staging", "production"),
        ("development", "production"),
    ]
    assert all(e["time"].endswith("Z") for e in events) and events == sorted(events, key=lambda e: e["time"])
    only_v0 = lifecycle_history(conn, model, version="1.0.0")["events"]
    assert [e["seq"] for e in only_v0] == [1, 2, 3]  # event 3 demoted 1.0.0
    # Reading from the middle gives the rest in order (the view's repair uses this).
    assert [e["seq"] for e in read_lifecycle_events(conn, events[0]["model_id"], after_seq=2)] == [3, 4]


def test_a_writer_that_died_between_event_and_view_is_repaired(
    registry: EmbeddedRegistry, conn: RegistryConnection, model: str
) -> None:
    promote_model_version(conn, f"{model}:1.0.0", stage="production")
    target = resolve_model_reference(conn, f"{model}:1.0.1")
    # Append an event as a writer would, then "die" before updating the view.
    event = {
        "type": "stage",
        "version_id": target.version["id"],
        "version": "1.0.1",
        "from": "development",
        "to": "production",
        "demoted_version_id": resolve_model_reference(conn, model).version["id"],
        "demoted_version": "1.0.0",
        "demoted_to": "archived",
        "actor": "crashed-writer",
        "token": "t1",
        "time": utc_timestamp(),
    }
    assert append_lifecycle_event(conn, target.model, 2, event)["seq"] == 2
    assert append_lifecycle_event(conn, target.model, 2, {**event, "token": "other"}) is None  # taken
    assert append_lifecycle_event(conn, target.model, 2, event)["token"] == "t1"  # its own: a lost answer
    assert _props(_version(registry, conn, model, "1.0.1")).get("kml_stage") is None  # view is stale
    # The next reader repairs the view before answering.
    assert resolve_model_reference(conn, model).reference == f"{model}:1.0.1"
    assert _props(_version(registry, conn, model, "1.0.1"))["kml_stage"] == "production"
    assert _version(registry, conn, model, "1.0.0")["state"] == "ARCHIVED"
    # A view damaged by hand (stale label) is rewritten by the next promotion.
    damaged = _version(registry, conn, model, "1.0.2")
    props = {
        **damaged["customProperties"],
        "kml:stage=production": {"string_value": "", "metadataType": "MetadataStringValue"},
    }
    httpx.patch(registry.api_url + f"/model_versions/{damaged['id']}", json={"customProperties": props}, timeout=10)
    promote_model_version(conn, f"{model}:1.0.3", stage="staging")
    assert "kml:stage=production" not in _props(_version(registry, conn, model, "1.0.2"))


def test_references(conn: RegistryConnection, model: str) -> None:
    assert resolve_model_reference(conn, f"{model}@latest").reference == f"{model}:1.0.3"
    promote_model_version(conn, f"{model}:1.0.1", stage="staging")
    promote_model_version(conn, f"{model}:1.0.2", stage="staging")
    staged = resolve_model_reference(conn, f"{model}@staging")
    assert staged.reference == f"{model}:1.0.2" and staged.selector == "stage staging"
    assert staged.artifact["uri"] == f"s3://bucket/{model}/2"
    assert resolve_model_reference(conn, "@staging", default_model=model).reference == f"{model}:1.0.2"
    with pytest.raises(LookupError, match="has no version in production"):
        resolve_model_reference(conn, model)
    with pytest.raises(LookupError, match=f"did you mean '{model}'"):
        resolve_model_reference(conn, model[:-1] + "x")
    with pytest.raises(LookupError, match=r"no version named '1.0.9': did you mean"):
        resolve_model_reference(conn, f"{model}:1.0.9")


def test_other_components_can_record_events(conn: RegistryConnection, model: str) -> None:
    promote_model_version(conn, f"{model}:1.0.0", stage="production")
    event = record_lifecycle_event(
        conn,
        model,
        "deployment",
        from_state="",
        to_state="kserve-prod/iris",
        actor="kfp-run:deploy-1",
        evidence={"isvc": "iris"},
        details={"serving_namespace": "kserve-prod"},
    )
    assert event["seq"] == 2 and event["version"] == "1.0.0" and event["serving_namespace"] == "kserve-prod"
    history = lifecycle_history(conn, model)["events"]
    assert [e["type"] for e in history] == ["stage", "deployment"]
    assert "deployed 1.0.0 to kserve-prod/iris" in describe_lifecycle_event(history[-1])
    assert resolve_model_reference(conn, model).reference == f"{model}:1.0.0"  # no lifecycle change
    with pytest.raises(ValueError, match="cannot be recorded here"):
        record_lifecycle_event(conn, model, "stage")
