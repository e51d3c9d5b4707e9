"""The audit's findings against the embedded registry: for each kind, a fixture that produces it and one that does not.

Versions are registered the ways users do (``Lifecycle.register``: manual lineage) or written raw through the REST
API (what another client, a crashed task or a person in the registry UI leaves behind). The audit's clock is moved
forward instead of waiting. The audit only reads: a second audit finds the same, and the database is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.audit import AuditFailedError, AuditReport, Finding, audit_registry, render_html
from kfp_model_lifecycle.audit.findings import check_fail_on
from kfp_model_lifecycle.audit.report import render_markdown, render_text
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle.actions import repair, set_policy
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

NOW = datetime.now(UTC)
LATER = NOW + timedelta(hours=1)  # past the grace for registrations in progress


@pytest.fixture(scope="module")
def conn(registry: EmbeddedRegistry) -> Iterator[RegistryConnection]:
    with connect_model_registry(registry.url) as connection:
        yield connection


@pytest.fixture
def lc(registry: EmbeddedRegistry, isolated_env: pytest.MonkeyPatch) -> Iterator[Lifecycle]:
    with Lifecycle(registry.url) as lifecycle:
        yield lifecycle


@pytest.fixture
def data(tmp_path: Path) -> str:
    path = tmp_path / "train.csv"
    path.write_text("x,y\n1,0\n2,1\n")
    return str(path)


def register(lc: Lifecycle, name: str, data: str, **options: Any) -> str:
    """A version with complete lineage (manual source, code version, a digested dataset); returns ``name:version``."""
    options.setdefault("datasets", {"train": data})
    options.setdefault("code_version", "0123abc")
    reg = lc.register(name, f"s3://models/{name}", metrics={"accuracy": 0.9}, **options)
    return f"{name}:{reg.version_name}"


def raw_version(registry: EmbeddedRegistry, model: str, version: str, props: dict[str, str], *, artifact: bool) -> str:
    """A version written straight through the REST API (another client, a crashed task); returns its id."""
    api = f"{registry.url}/api/model_registry/v1"
    found = httpx.get(f"{api}/registered_model", params={"name": model})
    model_id = found.json()["id"] if found.status_code == 200 else httpx.post(
        f"{api}/registered_models", json={"name": model}
    ).json()["id"]  # fmt: skip
    custom = {k: {"string_value": v, "metadataType": "MetadataStringValue"} for k, v in props.items()}
    body = {"name": version, "registeredModelId": model_id, "customProperties": custom}
    created = httpx.post(f"{api}/registered_models/{model_id}/versions", json=body)
    assert created.status_code == 201, created.text
    version_id = created.json()["id"]
    if artifact:
        art = {"artifactType": "model-artifact", "name": f"{model}-{version}", "uri": "s3://models/x"}
        assert httpx.post(f"{api}/model_versions/{version_id}/artifacts", json=art).status_code in (200, 201)
    return str(version_id)


def patch(registry: EmbeddedRegistry, kind: str, entity_id: str, body: dict[str, Any]) -> None:
    url = f"{registry.url}/api/model_registry/v1/{kind}/{entity_id}"
    assert httpx.patch(url, json=body).status_code == 200


def codes(report: AuditReport, reference: str | None = None) -> set[str]:
    return {f.code for f in report.findings if reference is None or f.reference in (reference, reference.split(":")[0])}


def only(report: AuditReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def test_complete_lineage_has_no_findings(conn: RegistryConnection, lc: Lifecycle, data: str, unique: str) -> None:
    name = f"clean-{unique}"
    ref = register(lc, name, data)
    lc.promote(ref, "production", aliases=["champion"])
    report = audit_registry(conn, name, now=LATER)
    assert report.findings == [] and report.models == [name] and report.versions == 1
    assert report.summary() == "1 model(s), 1 version(s): no findings"
    assert not report.fails("warning")


def test_production_without_the_required_approval(
    conn: RegistryConnection, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"approve-{unique}"
    ref = register(lc, name, data)
    lc.promote(ref, "production")
    assert "production-unapproved" not in codes(audit_registry(conn, name))  # the policy does not require it
    set_policy(conn, name, require_approval=True)  # the policy changes after the promotion
    finding = only(audit_registry(conn, name), "production-unapproved")
    assert finding.severity == "error" and finding.reference == ref and "it has no approval" in finding.message
    assert f"kml models approve {ref}" in finding.fix and f"kml models rollback {name}" in finding.fix
    lc.approve(ref, comment="reviewed")
    assert "production-unapproved" not in codes(audit_registry(conn, name))
    lc.approve(ref, status="rejected", comment="on second thought")
    rejected = only(audit_registry(conn, name), "production-unapproved")
    assert "its approval is 'rejected'" in rejected.message


def test_missing_lineage(
    conn: RegistryConnection, registry: EmbeddedRegistry, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"lineage-{unique}"
    register(lc, name, data)  # complete
    raw_version(registry, name, "bare", {}, artifact=True)
    raw_version(registry, name, "from-a-run", {"kfp_run_id": "run-1", "code_version": "abc",
                "dataset_0_uri": "s3://d/train.csv", "dataset_0_role": "train"}, artifact=True)  # fmt: skip
    report = audit_registry(conn, name, now=LATER)
    assert codes(report, f"{name}:bare") == {"no-run", "no-dataset-digest", "no-code-version"}
    assert codes(report, f"{name}:from-a-run") == {"no-dataset-digest"}
    undigested = next(f for f in report.findings if f.reference == f"{name}:from-a-run")
    assert "without a sha256 digest: s3://d/train.csv" in undigested.message and undigested.severity == "warning"
    assert not {f for f in report.findings if f.reference == f"{name}:1.0.0"}
    assert report.fails("warning") and not report.fails("error")


def test_a_version_without_its_model_artifact(
    conn: RegistryConnection, registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"incomplete-{unique}"
    props = {"model_meta_source": "manual", "code_version": "abc", "dataset_0_uri": "a", "dataset_0_sha256": "f00"}
    raw_version(registry, name, "crashed", props, artifact=False)
    raw_version(registry, name, "finished", props, artifact=True)
    assert codes(audit_registry(conn, name, now=NOW)) == set()  # may still be registering
    finding = only(audit_registry(conn, name, now=LATER), "no-model-artifact")
    assert finding.severity == "error" and finding.version == "crashed" and "re-run" in finding.fix


def test_staging_versions_left_behind(conn: RegistryConnection, lc: Lifecycle, data: str, unique: str) -> None:
    name = f"staging-{unique}"
    ref = register(lc, name, data)
    lc.promote(ref, "staging")
    assert codes(audit_registry(conn, name, now=NOW + timedelta(days=29))) == set()
    finding = only(audit_registry(conn, name, now=NOW + timedelta(days=31)), "stale-staging")
    assert (
        finding.severity == "warning" and "in staging for 31 days" in finding.message and "limit 30" in finding.message
    )
    assert codes(audit_registry(conn, name, staging_days=60, now=NOW + timedelta(days=31))) == set()
    lc.promote(ref, "production")
    assert codes(audit_registry(conn, name, now=NOW + timedelta(days=365))) == set()


def test_aliases_on_archived_versions(
    conn: RegistryConnection, registry: EmbeddedRegistry, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"alias-{unique}"
    first, second = register(lc, name, data), register(lc, name, data)
    lc.promote(first, "staging", aliases=["champion"])
    lc.promote(second, "", aliases=["challenger"])
    assert codes(audit_registry(conn, name)) == set()
    lc.promote(first, "archived")
    finding = only(audit_registry(conn, name), "alias-on-archived")
    assert finding.severity == "error" and finding.reference == first and f"{name}@champion" in finding.message
    assert "--remove-alias champion" in finding.fix
    second_id = lc.get(second).version.id
    patch(registry, "model_versions", second_id, {"state": "ARCHIVED"})  # archived in the registry UI
    assert {f.reference for f in audit_registry(conn, name).findings if f.code == "alias-on-archived"} == {
        first,
        second,
    }


def test_lifecycle_properties_out_of_sync(
    conn: RegistryConnection, registry: EmbeddedRegistry, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"drift-{unique}"
    ref = register(lc, name, data)
    lc.promote(ref, "staging")
    details = lc.get(ref)
    version = details.version
    assert codes(audit_registry(conn, name)) == set()
    stored = httpx.get(f"{registry.url}/api/model_registry/v1/model_versions/{version.id}").json()
    props = dict(stored["customProperties"])
    props["kml_stage"] = {"string_value": "production", "metadataType": "MetadataStringValue"}  # edited in the UI
    patch(registry, "model_versions", version.id, {"customProperties": props})
    finding = only(audit_registry(conn, name), "view-out-of-sync")
    assert finding.severity == "warning" and version.name in finding.message
    assert f"kml models repair {name}" in finding.fix
    assert codes(audit_registry(conn, name)) == {"view-out-of-sync"}  # the audit did not repair it
    repair(conn, name)
    assert codes(audit_registry(conn, name)) == set()
    model = httpx.get(f"{registry.url}/api/model_registry/v1/registered_models/{details.model_id}").json()
    behind = {k: v for k, v in model["customProperties"].items() if k != "kml_alias_champion"}
    behind["kml_event_seq"] = {"int_value": "0", "metadataType": "MetadataIntValue"}  # as if a writer died
    patch(registry, "registered_models", details.model_id, {"customProperties": behind})
    assert "the model's aliases/production pointer" in only(audit_registry(conn, name), "view-out-of-sync").message


def test_an_unreadable_policy(
    conn: RegistryConnection, registry: EmbeddedRegistry, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"policy-{unique}"
    register(lc, name, data)
    model_id = lc.model(name).model.id
    bad = {"kml_allowed_transitions": {"string_value": "{not json", "metadataType": "MetadataStringValue"}}
    patch(registry, "registered_models", model_id, {"customProperties": bad})
    finding = only(audit_registry(conn, name, now=LATER), "policy-invalid")
    assert finding.severity == "error" and "kml_allowed_transitions" in finding.message
    assert f"kml models policy {name}" in finding.fix


def test_every_model_is_audited_and_errors_sort_first(
    conn: RegistryConnection, registry: EmbeddedRegistry, unique: str
) -> None:
    raw_version(registry, f"all-a-{unique}", "1", {}, artifact=False)
    report = audit_registry(conn, now=LATER)
    assert {f"all-a-{unique}"} <= set(report.models) and report.models == sorted(report.models)
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=lambda s: s != "error")
    assert report.counts()["errors"] == sum(1 for s in severities if s == "error")


def test_fail_on_and_bad_input(conn: RegistryConnection, registry: EmbeddedRegistry, unique: str) -> None:
    name = f"failon-{unique}"
    raw_version(registry, name, "1", {}, artifact=True)  # warnings only
    report = audit_registry(conn, name, now=LATER)
    assert report.fails("warning") and not report.fails("error") and not report.fails("never")
    report.require_pass("error")
    with pytest.raises(AuditFailedError, match="no-run"):
        report.require_pass("warning")
    with pytest.raises(InvalidInputError, match="fail_on 'sometimes'"):
        check_fail_on("sometimes")
    with pytest.raises(InvalidInputError, match="staging_days"):
        audit_registry(conn, name, staging_days=0)
    with pytest.raises(NotFoundError):
        audit_registry(conn, f"absent-{unique}")


def test_reports_escape_and_show_every_finding(
    conn: RegistryConnection, registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"<b>evil|{unique}"
    raw_version(registry, name, "1", {}, artifact=False)
    report = audit_registry(conn, name, now=LATER)
    page = render_html(report)
    assert "<b>evil" not in page and "&lt;b&gt;evil" in page and "<script" not in page
    markdown = render_markdown(report)
    assert markdown.count("\n| ERROR |") + markdown.count("\n| WARNING |") == len(report.findings)
    assert "evil\\|" in markdown
    text = render_text(report)
    assert text[-1] == report.summary() and sum(line.startswith("ERROR") for line in text) == 1


def test_the_audit_writes_nothing(
    conn: RegistryConnection, registry: EmbeddedRegistry, lc: Lifecycle, data: str, unique: str
) -> None:
    name = f"readonly-{unique}"
    ref = register(lc, name, data)
    lc.promote(ref, "staging")
    version_id = lc.get(ref).version.id
    url = f"{registry.url}/api/model_registry/v1/model_versions/{version_id}"
    before = httpx.get(url).json()
    audit_registry(conn, name)
    assert httpx.get(url).json() == before
