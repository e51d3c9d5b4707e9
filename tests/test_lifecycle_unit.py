"""The lifecycle's pure parts: references, names, rules, the fold of the audit trail, the view, decisions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.events import build_lifecycle_event_artifact, decode_lifecycle_event
from kfp_model_lifecycle.lifecycle.names import check_alias_name, check_stage_name
from kfp_model_lifecycle.lifecycle.planning import (
    AliasPlan,
    Holder,
    RollbackTarget,
    plan_alias_change,
    plan_rollback,
    plan_stage_change,
)
from kfp_model_lifecycle.lifecycle.policy import lifecycle_policy, parse_allowed_transitions
from kfp_model_lifecycle.lifecycle.properties import lifecycle_property, lifecycle_property_value, plain_properties
from kfp_model_lifecycle.lifecycle.references import ModelReference, ReferenceKind, parse_model_reference
from kfp_model_lifecycle.lifecycle.reports import lifecycle_summary_markdown
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult
from kfp_model_lifecycle.lifecycle.state import Approval, fold_lifecycle_events, version_lifecycle
from kfp_model_lifecycle.lifecycle.view import model_view_properties, version_view_properties, version_view_state


def _event(seq: int, kind: str, vid: str = "", **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": kind,
        "version_id": vid,
        "version": f"v{vid}" if vid else "",
        "time": f"t{seq:03d}",
        **fields,
    }


def _promote(seq: int, vid: str, frm: str, demoted: str = "", rollback: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {"from": frm, "to": "production"}
    if demoted:
        extra.update(demoted_version_id=demoted, demoted_version=f"v{demoted}", demoted_to="archived")
    if rollback:
        extra["rollback"] = True
    return _event(seq, "stage", vid, **extra)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("iris", ("iris", "default", "")),
        ("iris:1.0.3", ("iris", "version", "1.0.3")),
        ("iris@champion", ("iris", "alias", "champion")),
        ("iris@Production", ("iris", "stage", "production")),
        ("iris@staging", ("iris", "stage", "staging")),
        ("iris@latest", ("iris", "latest", "latest")),
        (" iris : 2 ", ("iris", "version", "2")),
        ("my-org.model:v1:rc", ("my-org.model", "version", "v1:rc")),
    ],
)
def test_parse_model_reference(reference: str, expected: tuple[str, str, str]) -> None:
    assert parse_model_reference(reference) == ModelReference(*expected)


def test_parse_model_reference_with_default_model() -> None:
    assert parse_model_reference("@champion", "iris") == ModelReference("iris", ReferenceKind.ALIAS, "champion")
    assert parse_model_reference(":1.0.0", "iris").value == "1.0.0"
    assert parse_model_reference("", "iris").kind == ReferenceKind.DEFAULT
    assert parse_model_reference("wine@x", "iris").model == "wine"


@pytest.mark.parametrize(
    ("reference", "fragment"), [("", "names no model"), ("iris@", "ends with '@'"), ("iris:", "ends with ':'")]
)
def test_malformed_references_name_the_fix(reference: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_model_reference(reference)


def test_alias_names() -> None:
    assert check_alias_name("@champion") == "champion"
    assert check_alias_name("challenger-2_b") == "challenger-2_b"
    for bad in ("", "-x", "a b", "x" * 65, "a@b", "a:b"):
        with pytest.raises(ValueError, match="not a valid alias"):
            check_alias_name(bad)
    for reserved in ("production", "Latest", "archived"):
        with pytest.raises(ValueError, match="reserved"):
            check_alias_name(reserved)


def test_stage_names_and_transition_rules() -> None:
    assert check_stage_name(" Production ") == "production"
    with pytest.raises(ValueError, match="development, staging, production, archived"):
        check_stage_name("prod")
    default = parse_allowed_transitions("")
    assert default == {
        "development": ["staging", "production", "archived"],
        "staging": ["development", "production", "archived"],
        "production": ["staging", "archived"],
        "archived": ["staging", "production"],
    }
    assert default["production"] == ["staging", "archived"] and "production" in default["archived"]
    custom = parse_allowed_transitions('{"development": "staging", "staging": ["production"]}')
    assert custom == {"development": ["staging"], "staging": ["production"]}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_allowed_transitions("{nope")
    with pytest.raises(ValueError, match="not a lifecycle stage"):
        parse_allowed_transitions('{"dev": ["staging"]}')


def test_policy_from_model_properties() -> None:
    model = {
        "name": "m",
        "customProperties": {
            "kml_requires_approval": lifecycle_property(True),
            "kml_allowed_transitions": lifecycle_property('{"development": ["production"]}'),
            "kml_demote_to": lifecycle_property("staging"),
        },
    }
    policy = lifecycle_policy(model)
    assert policy.requires_approval and policy.demote_to == "staging" and policy.custom_transitions
    assert policy.allowed_transitions == {"development": ["production"]}
    assert lifecycle_policy({"name": "m"}).demote_to == "archived"
    assert json.loads(policy.event_text()) == {
        "allowed_transitions": {"development": ["production"]},
        "demote_to": "staging",
        "requires_approval": True,
    }
    assert json.loads(lifecycle_policy({"name": "m"}).event_text())["allowed_transitions"] == "default"
    broken = {"name": "m", "customProperties": {"kml_allowed_transitions": lifecycle_property("[1")}}
    with pytest.raises(ValueError, match="kml_allowed_transitions"):
        lifecycle_policy(broken)


def test_property_values_round_trip() -> None:
    for value in ("x", "", 3, 2.5, True, False):
        assert lifecycle_property_value(lifecycle_property(value)) == value
    assert lifecycle_property_value(lifecycle_property({"a": 1})) == json.dumps({"a": 1})
    assert lifecycle_property_value(None) is None


def test_fold_keeps_one_production_version_and_records_demotions() -> None:
    events = [
        _promote(1, "1", "development"),
        _event(2, "alias", "1", alias="champion", to="v1"),
        _promote(3, "2", "staging", demoted="1"),
        _event(4, "alias", "2", alias="champion", to="v2"),
        _event(5, "approval", "3", **{"from": "none", "to": "approved", "actor": "alice", "reason": "ok"}),
        _event(6, "alias", "2", alias="champion", to=""),
        _event(7, "rejection", "3", requested="stage production"),
        _event(8, "deployment", "2", to="kserve"),  # unknown to the fold: ignored
    ]
    state = fold_lifecycle_events(events)
    assert state.production == "2" and state.last_seq == 8
    assert state.versions["1"].stage == "archived" and state.versions["2"].stage == "production"
    assert state.aliases == {}
    assert state.versions["3"].approval == Approval(status="approved", by="alice", comment="ok", time="t005", seq=5)
    assert [h.version_id for h in state.production_history] == ["1", "2"]
    assert version_lifecycle(state, "9").stage == "development"  # never moved
    assert version_lifecycle(state, "3").approval.status == "approved"


def test_fold_repairs_a_missing_demotion() -> None:
    # An event that does not name the displaced holder still leaves one production version.
    state = fold_lifecycle_events([_promote(1, "1", "development"), _promote(2, "2", "development")])
    assert state.production == "2" and state.versions["1"].stage == "archived"


def test_rollback_walks_back_through_production_history() -> None:
    events = [
        _promote(1, "1", "development"),
        _promote(2, "2", "development", demoted="1"),
        _promote(3, "3", "development", demoted="2"),
    ]
    state = fold_lifecycle_events(events)
    assert plan_rollback(state) == RollbackTarget(version_id="2", version="v2", seq=2)
    events.append(_promote(4, "2", "archived", demoted="3", rollback=True))
    state = fold_lifecycle_events(events)
    assert state.versions["3"].rolled_back
    assert plan_rollback(state).version_id == "1"  # not back to 3: it was rolled back from
    events.append(_promote(5, "1", "archived", demoted="2", rollback=True))
    assert plan_rollback(fold_lifecycle_events(events)) is None
    events.append(_promote(6, "3", "archived", demoted="1"))  # 3 promoted normally again
    assert plan_rollback(fold_lifecycle_events(events)).version_id == "1"


def test_plan_stage_change_rules() -> None:
    state = fold_lifecycle_events([_promote(1, "1", "development")])
    policy = lifecycle_policy({"name": "m"})
    version = {"id": "2", "name": "v2"}
    plan = plan_stage_change(state, version, "production", policy, model_name="m")
    assert plan.event["demoted_version_id"] == "1" and plan.event["demoted_to"] == "archived"
    assert plan.previous_holder == Holder(version_id="1", version="v1")
    assert plan.decision()["event"] is plan.event and plan.decision()["requested"] == "stage production"
    assert plan_stage_change(state, {"id": "1", "name": "v1"}, "production", policy).event is None  # no-op
    forbidden = plan_stage_change(state, {"id": "1", "name": "v1"}, "development", policy, model_name="m")
    assert forbidden.error_type == "transition" and forbidden.event is None
    assert "from production it may move to staging, archived" in forbidden.error
    assert forbidden.decision()["requested_to"] == "development" and forbidden.decision()["from"] == "production"
    strict = dataclasses.replace(policy, requires_approval=True)
    missing = plan_stage_change(state, version, "production", strict, model_name="m")
    assert missing.error_type == "approval" and "kml models approve m:v2" in missing.error
    assert plan_stage_change(state, version, "production", policy, require_approval=True).error_type == "approval"
    assert plan_stage_change(state, version, "production", strict, rollback=True).event["rollback"]
    with pytest.raises(ValueError, match="demote_to cannot be 'production'"):
        plan_stage_change(state, version, "production", policy, demote_to="production")
    rejected = fold_lifecycle_events(
        [_event(1, "approval", "2", **{"to": "rejected", "actor": "bob", "reason": "bias in eval set"})]
    )
    refused = plan_stage_change(rejected, version, "production", strict)
    assert "rejected by bob: bias in eval set" in refused.error


def test_plan_alias_change_moves_and_removes() -> None:
    state = fold_lifecycle_events([_event(1, "alias", "1", alias="champion", to="v1")])
    moved = plan_alias_change(state, {"id": "2", "name": "v2"}, "@champion")
    assert moved.previous_holder == Holder("1", "v1")
    assert (moved.event["from"], moved.event["to"], moved.event["previous_version_id"]) == ("v1", "v2", "1")
    assert plan_alias_change(state, {"id": "1", "name": "v1"}, "champion").event is None
    removed = plan_alias_change(state, None, "champion", remove=True)
    assert (removed.event["version_id"], removed.event["from"], removed.event["to"]) == ("1", "v1", "")
    assert plan_alias_change(state, None, "other", remove=True) == AliasPlan(None, None)
    with pytest.raises(ValueError, match="needs a model version"):
        plan_alias_change(state, None, "other")


def test_view_properties_keep_other_keys_and_replace_lifecycle_keys() -> None:
    state = fold_lifecycle_events(
        [
            _promote(1, "7", "development"),
            _event(2, "alias", "7", alias="champion", to="v7"),
            _event(3, "approval", "7", **{"to": "approved", "actor": "alice"}),
        ]
    )
    version = {
        "id": "7",
        "customProperties": {
            "accuracy": {"double_value": 0.9, "metadataType": "MetadataDoubleValue"},
            "kfp_run_id": lifecycle_property("r1"),
            "kml:stage=staging": lifecycle_property(""),  # stale label: removed
            "kml:@old": lifecycle_property(""),
        },
    }
    props = plain_properties({"customProperties": version_view_properties(version, state)})
    assert props == {
        "accuracy": 0.9,
        "kfp_run_id": "r1",
        "kml_stage": "production",
        "kml_stage_time": "t001",
        "kml:stage=production": "",
        "kml:@champion": "",
        "kml_approval_status": "approved",
        "kml_approval_by": "alice",
        "kml_approval_comment": "",
        "kml_approval_time": "t003",
        "kml:approval=approved": "",
    }
    model = {
        "customProperties": {
            "kml_requires_approval": lifecycle_property(True),
            "kml_alias_gone": lifecycle_property("3"),
            "team": lifecycle_property("a"),
        }
    }
    assert plain_properties({"customProperties": model_view_properties(model, state)}) == {
        "kml_requires_approval": True,
        "team": "a",
        "kml_alias_champion": "7",
        "kml_production_version_id": "7",
        "kml_event_seq": 3,
    }


def test_view_state_archives_and_restores_only_what_the_lifecycle_archived() -> None:
    archived = fold_lifecycle_events([_event(1, "stage", "1", to="archived")])
    assert version_view_state({"id": "1", "state": "LIVE"}, archived) == "ARCHIVED"
    back = fold_lifecycle_events([_event(1, "stage", "1", to="archived"), _event(2, "stage", "1", to="staging")])
    shown_archived = {
        "id": "1",
        "state": "ARCHIVED",
        "customProperties": {"kml_stage": lifecycle_property("archived")},
    }
    assert version_view_state(shown_archived, back) == "LIVE"
    staged = fold_lifecycle_events([_event(1, "stage", "1", to="staging")])
    archived_by_a_person = {
        "id": "1",
        "state": "ARCHIVED",
        "customProperties": {"kml_stage": lifecycle_property("staging")},
    }
    assert version_view_state(archived_by_a_person, staged) == "ARCHIVED"


def test_event_artifact_round_trip_and_description() -> None:
    model = {"id": "5", "name": "iris"}
    event = {
        "type": "stage",
        "version_id": "9",
        "version": "1.0.3",
        "from": "staging",
        "to": "production",
        "actor": "kfp-run:train-1",
        "reason": "better",
        "time": "2026-01-01T00:00:00.000Z",
        "token": "abc",
        "demoted_version_id": "8",
        "demoted_version": "1.0.2",
        "demoted_to": "archived",
        "evidence": {"run_id": "r1", "report_uri": "s3://reports/cmp.html"},
    }
    body = build_lifecycle_event_artifact(model, 12, event)
    assert body["externalId"] == "kml-event:5:12" and body["name"] == "kml-event-5-00000012"
    assert body["artifactType"] == "doc-artifact" and body["uri"] == "s3://reports/cmp.html"
    decoded = decode_lifecycle_event({**body, "id": "77"})
    assert decoded["seq"] == 12 and decoded["evidence"] == event["evidence"] and decoded["artifact_id"] == "77"
    assert decoded["demoted_version"] == "1.0.2" and decoded["model_id"] == "5"
    text = describe_lifecycle_event(decoded)
    assert text == ("#12 stage 1.0.3: staging -> production (demoted 1.0.2 to archived) by kfp-run:train-1: better")
    assert body["description"] == text


def test_summary_markdown_escapes_and_mentions_dry_run() -> None:
    event = {
        "seq": 3,
        "type": "stage",
        "version": "1",
        "from": "staging",
        "to": "production",
        "actor": "me",
        "reason": "a|b",
        "evidence": {"report_uri": "s3://r"},
    }
    result = PromotionResult(
        model="m",
        model_id="9",
        version="1",
        version_id="1",
        reference="m:1",
        stage="production",
        previous_stage="staging",
        aliases=["champion"],
        new_holder="m:1",
        previous_holder="m:0",
        events=[event],
        event_seq=3,
        changed=True,
        dry_run=True,
        rollback=False,
        conflicts=0,
        summary=[],
    )
    text = lifecycle_summary_markdown(result, "Promotion of m:1")
    assert "**Dry run**" in text and "a\\|b" in text and "report_uri" in text and "| Previous holder | m:0 |" in text
    assert "| Aliases | @champion |" in text and "| 3 | stage 1: staging -> production | me | a\\|b |" in text
    approval = ApprovalResult(
        model="m",
        model_id="9",
        version="1",
        version_id="1",
        reference="m:1",
        status="approved",
        previous_status="none",
        approver="bob",
        events=[],
        event_seq=0,
        changed=False,
        dry_run=False,
        summary=[],
    )
    text = lifecycle_summary_markdown(approval, "Approval of m:1")
    assert "| Approval | none -> approved |" in text and "| Changed | no (already so) |" in text
    assert "Dry run" not in text and "Audit trail" not in text


def test_struct_values_are_read_as_base64_or_as_the_json_text_the_go_server_returns() -> None:
    import base64

    from kfp_model_lifecycle.lifecycle.properties import lifecycle_property_value

    encoded = base64.b64encode(b'{"language": ["en", "de"]}').decode()
    for value in (encoded, '{"language": ["en", "de"]}'):
        assert lifecycle_property_value({"struct_value": value, "metadataType": "MetadataStructValue"}) == {
            "language": ["en", "de"]
        }
    assert lifecycle_property_value({"struct_value": "not json", "metadataType": "MetadataStructValue"}) is None
