"""The lifecycle's pure parts: references, names, rules, the fold of the audit trail, the view, decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kfp_model_lifecycle.lifecycle import core as lc


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
        ("iris", {"model": "iris", "kind": "default", "value": ""}),
        ("iris:1.0.3", {"model": "iris", "kind": "version", "value": "1.0.3"}),
        ("iris@champion", {"model": "iris", "kind": "alias", "value": "champion"}),
        ("iris@Production", {"model": "iris", "kind": "stage", "value": "production"}),
        ("iris@staging", {"model": "iris", "kind": "stage", "value": "staging"}),
        ("iris@latest", {"model": "iris", "kind": "latest", "value": "latest"}),
        (" iris : 2 ", {"model": "iris", "kind": "version", "value": "2"}),
        ("my-org.model:v1:rc", {"model": "my-org.model", "kind": "version", "value": "v1:rc"}),
    ],
)
def test_parse_model_reference(reference: str, expected: dict[str, str]) -> None:
    assert lc.parse_model_reference(reference) == expected


def test_parse_model_reference_with_default_model() -> None:
    assert lc.parse_model_reference("@champion", "iris") == {"model": "iris", "kind": "alias", "value": "champion"}
    assert lc.parse_model_reference(":1.0.0", "iris")["value"] == "1.0.0"
    assert lc.parse_model_reference("", "iris")["kind"] == "default"
    assert lc.parse_model_reference("wine@x", "iris")["model"] == "wine"


@pytest.mark.parametrize(
    ("reference", "fragment"), [("", "names no model"), ("iris@", "ends with '@'"), ("iris:", "ends with ':'")]
)
def test_malformed_references_name_the_fix(reference: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        lc.parse_model_reference(reference)


def test_alias_names() -> None:
    assert lc.check_alias_name("@champion") == "champion"
    assert lc.check_alias_name("challenger-2_b") == "challenger-2_b"
    for bad in ("", "-x", "a b", "x" * 65, "a@b", "a:b"):
        with pytest.raises(ValueError, match="not a valid alias"):
            lc.check_alias_name(bad)
    for reserved in ("production", "Latest", "archived"):
        with pytest.raises(ValueError, match="reserved"):
            lc.check_alias_name(reserved)


def test_stage_names_and_transition_rules() -> None:
    assert lc.check_stage_name(" Production ") == "production"
    with pytest.raises(ValueError, match="development, staging, production, archived"):
        lc.check_stage_name("prod")
    default = lc.parse_allowed_transitions("")
    assert default["production"] == ["staging", "archived"] and "production" in default["archived"]
    custom = lc.parse_allowed_transitions('{"development": "staging", "staging": ["production"]}')
    assert custom == {"development": ["staging"], "staging": ["production"]}
    with pytest.raises(ValueError, match="not valid JSON"):
        lc.parse_allowed_transitions("{nope")
    with pytest.raises(ValueError, match="not a lifecycle stage"):
        lc.parse_allowed_transitions('{"dev": ["staging"]}')


def test_policy_from_model_properties() -> None:
    model = {
        "name": "m",
        "customProperties": {
            "kml_requires_approval": lc.lifecycle_property(True),
            "kml_allowed_transitions": lc.lifecycle_property('{"development": ["production"]}'),
            "kml_demote_to": lc.lifecycle_property("staging"),
        },
    }
    policy = lc.lifecycle_policy(model)
    assert policy["requires_approval"] and policy["demote_to"] == "staging" and policy["custom_transitions"]
    assert policy["allowed_transitions"] == {"development": ["production"]}
    assert lc.lifecycle_policy({"name": "m"})["demote_to"] == "archived"
    broken = {"name": "m", "customProperties": {"kml_allowed_transitions": lc.lifecycle_property("[1")}}
    with pytest.raises(ValueError, match="kml_allowed_transitions"):
        lc.lifecycle_policy(broken)


def test_property_values_round_trip() -> None:
    for value in ("x", "", 3, 2.5, True, False):
        assert lc.lifecycle_property_value(lc.lifecycle_property(value)) == value
    assert lc.lifecycle_property_value(lc.lifecycle_property({"a": 1})) == json.dumps({"a": 1})
    assert lc.lifecycle_property_value(None) is None


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
    state = lc.fold_lifecycle_events(events)
    assert state["production"] == "2" and state["last_seq"] == 8
    assert state["versions"]["1"]["stage"] == "archived" and state["versions"]["2"]["stage"] == "production"
    assert state["aliases"] == {}
    assert state["versions"]["3"]["approval"] == {
        "status": "approved",
        "by": "alice",
        "comment": "ok",
        "time": "t005",
        "seq": 5,
    }
    assert [h["version_id"] for h in state["production_history"]] == ["1", "2"]
    assert lc.version_lifecycle(state, "9")["stage"] == "development"  # never moved


def test_fold_repairs_a_missing_demotion() -> None:
    # An event that does not name the displaced holder still leaves one production version.
    state = lc.fold_lifecycle_events([_promote(1, "1", "development"), _promote(2, "2", "development")])
    assert state["production"] == "2" and state["versions"]["1"]["stage"] == "archived"


def test_rollback_walks_back_through_production_history() -> None:
    events = [
        _promote(1, "1", "development"),
        _promote(2, "2", "development", demoted="1"),
        _promote(3, "3", "development", demoted="2"),
    ]
    state = lc.fold_lifecycle_events(events)
    assert lc.plan_rollback(state)["version_id"] == "2"
    events.append(_promote(4, "2", "archived", demoted="3", rollback=True))
    state = lc.fold_lifecycle_events(events)
    assert state["versions"]["3"]["rolled_back"]
    assert lc.plan_rollback(state)["version_id"] == "1"  # not back to 3: it was rolled back from
    events.append(_promote(5, "1", "archived", demoted="2", rollback=True))
    assert lc.plan_rollback(lc.fold_lifecycle_events(events)) is None
    events.append(_promote(6, "3", "archived", demoted="1"))  # 3 promoted normally again
    assert lc.plan_rollback(lc.fold_lifecycle_events(events))["version_id"] == "1"


def test_plan_stage_change_rules() -> None:
    state = lc.fold_lifecycle_events([_promote(1, "1", "development")])
    policy = lc.lifecycle_policy({"name": "m"})
    version = {"id": "2", "name": "v2"}
    plan = lc.plan_stage_change(state, version, "production", policy, model_name="m")
    assert plan["event"]["demoted_version_id"] == "1" and plan["event"]["demoted_to"] == "archived"
    assert plan["previous_holder"] == {"version_id": "1", "version": "v1"}
    assert lc.plan_stage_change(state, {"id": "1", "name": "v1"}, "production", policy)["event"] is None  # no-op
    forbidden = lc.plan_stage_change(state, {"id": "1", "name": "v1"}, "development", policy, model_name="m")
    assert forbidden["error_type"] == "transition"
    assert "from production it may move to staging, archived" in forbidden["error"]
    strict = {**policy, "requires_approval": True}
    missing = lc.plan_stage_change(state, version, "production", strict, model_name="m")
    assert missing["error_type"] == "approval" and "kml models approve m:v2" in missing["error"]
    assert lc.plan_stage_change(state, version, "production", policy, require_approval=True)["error_type"] == "approval"
    assert lc.plan_stage_change(state, version, "production", strict, rollback=True)["event"]["rollback"]
    rejected = lc.fold_lifecycle_events(
        [_event(1, "approval", "2", **{"to": "rejected", "actor": "bob", "reason": "bias in eval set"})]
    )
    refused = lc.plan_stage_change(rejected, version, "production", strict)
    assert "rejected by bob: bias in eval set" in refused["error"]


def test_view_properties_keep_other_keys_and_replace_lifecycle_keys() -> None:
    state = lc.fold_lifecycle_events(
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
            "kfp_run_id": lc.lifecycle_property("r1"),
            "kml:stage=staging": lc.lifecycle_property(""),  # stale label: removed
            "kml:@old": lc.lifecycle_property(""),
        },
    }
    props = lc.plain_properties({"customProperties": lc.version_view_properties(version, state)})
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
            "kml_requires_approval": lc.lifecycle_property(True),
            "kml_alias_gone": lc.lifecycle_property("3"),
            "team": lc.lifecycle_property("a"),
        }
    }
    assert lc.plain_properties({"customProperties": lc.model_view_properties(model, state)}) == {
        "kml_requires_approval": True,
        "team": "a",
        "kml_alias_champion": "7",
        "kml_production_version_id": "7",
        "kml_event_seq": 3,
    }


def test_view_state_archives_and_restores_only_what_the_lifecycle_archived() -> None:
    archived = lc.fold_lifecycle_events([_event(1, "stage", "1", to="archived")])
    assert lc.version_view_state({"id": "1", "state": "LIVE"}, archived) == "ARCHIVED"
    back = lc.fold_lifecycle_events([_event(1, "stage", "1", to="archived"), _event(2, "stage", "1", to="staging")])
    shown_archived = {
        "id": "1",
        "state": "ARCHIVED",
        "customProperties": {"kml_stage": lc.lifecycle_property("archived")},
    }
    assert lc.version_view_state(shown_archived, back) == "LIVE"
    staged = lc.fold_lifecycle_events([_event(1, "stage", "1", to="staging")])
    archived_by_a_person = {
        "id": "1",
        "state": "ARCHIVED",
        "customProperties": {"kml_stage": lc.lifecycle_property("staging")},
    }
    assert lc.version_view_state(archived_by_a_person, staged) == "ARCHIVED"


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
    body = lc.build_lifecycle_event_artifact(model, 12, event)
    assert body["externalId"] == "kml-event:5:12" and body["name"] == "kml-event-5-00000012"
    assert body["artifactType"] == "doc-artifact" and body["uri"] == "s3://reports/cmp.html"
    decoded = lc.decode_lifecycle_event({**body, "id": "77"})
    assert decoded["seq"] == 12 and decoded["evidence"] == event["evidence"] and decoded["artifact_id"] == "77"
    assert decoded["demoted_version"] == "1.0.2" and decoded["model_id"] == "5"
    text = lc.describe_lifecycle_event(decoded)
    assert text == ("#12 stage 1.0.3: staging -> production (demoted 1.0.2 to archived) by kfp-run:train-1: better")
    assert body["description"] == text


def test_summary_markdown_escapes_and_mentions_dry_run() -> None:
    result = {
        "reference": "m:1",
        "version_id": "1",
        "stage": "production",
        "previous_stage": "staging",
        "aliases": ["champion"],
        "previous_holder": "m:0",
        "changed": True,
        "dry_run": True,
        "events": [
            {
                "seq": 3,
                "type": "stage",
                "version": "1",
                "from": "staging",
                "to": "production",
                "actor": "me",
                "reason": "a|b",
                "evidence": {"report_uri": "s3://r"},
            }
        ],
    }
    text = lc.lifecycle_summary_markdown(result, "Promotion of m:1")
    assert "**Dry run**" in text and "a\\|b" in text and "report_uri" in text and "| Previous holder | m:0 |" in text
