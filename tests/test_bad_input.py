"""Bad input to every component job and the ``Lifecycle`` API: a clear error, never a traceback, a wrong success or a
partial write.

Each table row is one bad input: the call, the ``LifecycleError`` subclass it must raise, and a fragment of the
message (which names the parameter and the fix). After every row the registry must be exactly as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.comparison.leaderboard import run_compare_versions
from kfp_model_lifecycle.comparison.run import run_compare_models
from kfp_model_lifecycle.errors import InvalidInputError, LifecycleError, NotFoundError
from kfp_model_lifecycle.lifecycle.recording import run_record_model_event
from kfp_model_lifecycle.lifecycle.run import run_approve_model, run_promote_model
from kfp_model_lifecycle.lineage import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetInput
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import run_register_model

LONG = "x" * 10_000
MAX_MESSAGE = 1_000  # a long value is cut, so the message stays short


@dataclass
class World:
    """What the calls need: the registry, a model with two complete versions (1.0.0 in production), a Lifecycle."""

    url: str
    name: str
    lc: Lifecycle
    tmp: Path

    @property
    def ref(self) -> str:
        return f"{self.name}:1.0.1"


Case = tuple[str, Callable[[World], Any], type[LifecycleError], str]


def _register(w: World, **bad: Any) -> Any:
    arguments = {
        "model_uri": "s3://models/bad-input",
        "model_name": w.name,
        "registry_url": w.url,
        "context": RunContext(run_id="run-bad", task_name="register-model"),
        "env": {},
    }
    return run_register_model(**{**arguments, **bad})


def _promote(w: World, **bad: Any) -> Any:
    arguments = {
        "model_reference": w.ref,
        "stage": "staging",
        "registry_url": w.url,
        "context": RunContext(),
        "env": {},
    }
    return run_promote_model(**{**arguments, **bad})


def _approve(w: World, **bad: Any) -> Any:
    arguments = {"model_reference": w.ref, "comment": "ok", "registry_url": w.url, "context": RunContext(), "env": {}}
    return run_approve_model(**{**arguments, **bad})


def _record(w: World, **bad: Any) -> Any:
    arguments = {"model_reference": w.ref, "event_type": "note", "registry_url": w.url, "context": RunContext()}
    return run_record_model_event(**{**arguments, "env": {}, **bad})


def _leaderboard(w: World, **bad: Any) -> Any:
    arguments = {"references": [f"{w.name}:1.0.0", w.ref], "metrics": ["accuracy"], "registry_url": w.url, "env": {}}
    return run_compare_versions(**{**arguments, **bad})


GATES = [{"metric": "accuracy", "higher_is_better": True, "threshold": 0.5}]


def _compare(w: World, **bad: Any) -> Any:
    arguments = {"gates": GATES, "candidate": w.ref, "baseline": "none", "registry_url": w.url, "env": {}}
    return run_compare_models(**{**arguments, "record_predictions": False, **bad})


I = InvalidInputError  # noqa: E741 - short for the tables
N = NotFoundError

REGISTER: list[Case] = [
    ("model_name int", lambda w: _register(w, model_name=123), I, "model_name must be text, got int 123"),
    ("model_name empty", lambda w: _register(w, model_name=" "), I, "model_name is empty"),
    ("model_name 10k", lambda w: _register(w, model_name=LONG), I, "is 10000 characters long: at most 244"),
    ("model_name slash", lambda w: _register(w, model_name="a/b"), I, "contains '/'"),
    ("model_uri int", lambda w: _register(w, model_uri=5), I, "model_uri must be text, got int 5"),
    ("model_uri empty", lambda w: _register(w, model_uri=""), I, "the model artifact has no URI"),
    ("version int", lambda w: _register(w, version=2), I, "version must be text, got int 2"),
    ("version float", lambda w: _register(w, version=1.5), I, "write version='1.5'"),
    ("version slash", lambda w: _register(w, version="a/b"), I, "version 'a/b' contains '/'"),
    ("metrics text", lambda w: _register(w, metrics="accuracy=0.9"), I, "metrics must be a mapping"),
    ("metrics list", lambda w: _register(w, metrics=[0.9]), I, "metrics must be a mapping"),
    ("metric nan", lambda w: _register(w, metrics={"accuracy": math.nan}), I, "metrics['accuracy'] is nan"),
    ("metric inf", lambda w: _register(w, metrics={"accuracy": math.inf}), I, "metrics['accuracy'] is inf"),
    ("metric -inf", lambda w: _register(w, metrics={"loss": -math.inf}), I, "metrics['loss'] is -inf"),
    ("metric word", lambda w: _register(w, metrics={"accuracy": "high"}), I, "must be a number, got str 'high'"),
    ("metric bool", lambda w: _register(w, metrics={"accuracy": True}), I, "must be a number, got bool True"),
    ("metric key int", lambda w: _register(w, metrics={1: 0.5}), I, "every key must be a non-empty name"),
    ("hyperparameters list", lambda w: _register(w, hyperparameters=[1, 2]), I, "hyperparameters must be a mapping"),
    ("hyperparameters text", lambda w: _register(w, hyperparameters="a=1"), I, "hyperparameters must be a mapping"),
    ("hyperparameter name 300", lambda w: _register(w, hyperparameters={"h" * 300: 1}), I, "at most 255"),
    ("model_metadata list", lambda w: _register(w, model_metadata=[1]), I, "model_metadata must be a mapping"),
    ("labels int", lambda w: _register(w, labels=5), I, "labels must be a list of text, got int 5"),
    ("labels ints", lambda w: _register(w, labels=[1, 2]), I, "labels[0] must be text, got int 1"),
    ("labels comma", lambda w: _register(w, labels="a,b"), I, "is that one item or several?"),
    ("labels dict", lambda w: _register(w, labels={"a": 1}), I, "labels must be a list of text, got dict"),
    ("datasets text", lambda w: _register(w, datasets="s3://d"), I, "datasets must be a list of DatasetInput"),
    ("datasets texts", lambda w: _register(w, datasets=["s3://d"]), I, "datasets[0] must be a DatasetInput"),
    ("description int", lambda w: _register(w, description=5), I, "description must be text, got int 5"),
    ("author list", lambda w: _register(w, author=["a"]), I, "author must be text, got list"),
    ("owner int", lambda w: _register(w, owner=1), I, "owner must be text"),
    ("storage_key int", lambda w: _register(w, storage_key=1), I, "storage_key must be text"),
    ("format int", lambda w: _register(w, model_format_name=1), I, "model_format_name must be text"),
    ("registry_url int", lambda w: _register(w, registry_url=5), I, "registry_url must be text"),
    ("verify_tls text", lambda w: _register(w, verify_tls="no"), I, "verify_tls must be True or False, got str 'no'"),
    ("env list", lambda w: _register(w, env=[("a", "b")]), I, "env must be a mapping"),
    ("context text", lambda w: _register(w, context="run-1"), I, "context must be a RunContext"),
    ("source unknown", lambda w: _register(w, source="cli"), I, "source 'cli' is not one of pipeline, manual"),
    ("output_path int", lambda w: _register(w, output_path=5), I, "output_path must be text"),
]

PROMOTE: list[Case] = [
    ("stage int", lambda w: _promote(w, stage=5), I, "stage must be text, got int 5"),
    ("stage unknown", lambda w: _promote(w, stage="prod"), I, "stage 'prod' is not a lifecycle stage"),
    ("aliases int", lambda w: _promote(w, aliases=5), I, "aliases must be a list of text, got int 5"),
    ("aliases comma", lambda w: _promote(w, aliases="a,b"), I, "is that one item or several?"),
    ("aliases ints", lambda w: _promote(w, aliases=[1]), I, "aliases[0] must be text, got int 1"),
    ("alias reserved", lambda w: _promote(w, aliases=["production"]), I, "alias 'production' is reserved"),
    ("alias invalid", lambda w: _promote(w, aliases=["a b"]), I, "alias 'a b' is not a valid alias name"),
    ("alias 10k", lambda w: _promote(w, aliases=[LONG]), I, "(10000 characters) is not a valid alias name"),
    ("remove_aliases int", lambda w: _promote(w, remove_aliases=5), I, "remove_aliases must be a list"),
    ("set and remove", lambda w: _promote(w, aliases=["c"], remove_aliases="c"), I, "both set and removed"),
    ("reference int", lambda w: _promote(w, model_reference=5), I, "model_reference must be text, got int 5"),
    ("reference 10k", lambda w: _promote(w, model_reference=LONG), I, "is 10000 characters long"),
    ("reference empty", lambda w: _promote(w, model_reference=""), I, "names no model"),
    ("reference colon", lambda w: _promote(w, model_reference=f"{w.name}:"), I, "ends with ':'"),
    ("unknown version", lambda w: _promote(w, model_reference=f"{w.name}:9.9.9"), N, "has no version named '9.9.9'"),
    ("unknown model", lambda w: _promote(w, model_reference="no-such-model:1"), N, "no registered model named"),
    ("reason int", lambda w: _promote(w, reason=5), I, "reason must be text, got int 5"),
    ("evidence list", lambda w: _promote(w, evidence=[1]), I, "evidence must be a mapping"),
    ("evidence_uri int", lambda w: _promote(w, evidence_uri=5), I, "evidence_uri must be text"),
    ("actor int", lambda w: _promote(w, actor=5), I, "actor must be text"),
    ("dry_run text", lambda w: _promote(w, dry_run="no"), I, "dry_run must be True or False, got str 'no'"),
    ("require_approval text", lambda w: _promote(w, require_approval="yes"), I, "require_approval must be True"),
    ("rollback text", lambda w: _promote(w, rollback="yes"), I, "rollback must be True or False"),
    ("demote_to int", lambda w: _promote(w, demote_to=5), I, "demote_to must be text"),
    ("demote_to production", lambda w: _promote(w, demote_to="production"), I, "demote_to cannot be 'production'"),
    ("rollback to staging", lambda w: _promote(w, rollback=True), I, "rollback re-promotes to production"),
    ("nothing to do", lambda w: _promote(w, stage=""), I, "nothing to do"),
    ("verify_tls text", lambda w: _promote(w, verify_tls="no"), I, "verify_tls must be True or False"),
    ("run_id int", lambda w: _promote(w, run_id=7), I, "run_id must be text"),
    ("summary_path int", lambda w: _promote(w, summary_path=5), I, "summary_path must be text"),
    ("context text", lambda w: _promote(w, context="run"), I, "context must be a RunContext"),
    ("env text", lambda w: _promote(w, env="KML=1"), I, "env must be a mapping"),
]

APPROVE: list[Case] = [
    ("status int", lambda w: _approve(w, status=5), I, "status must be text, got int 5"),
    ("status unknown", lambda w: _approve(w, status="maybe"), I, "approval status 'maybe' is not one of"),
    ("status None", lambda w: _approve(w, status=None), I, "approval status None is not one of"),
    ("rejected without comment", lambda w: _approve(w, status="rejected", comment=""), I, "needs a comment"),
    ("comment int", lambda w: _approve(w, comment=5), I, "comment must be text, got int 5"),
    ("approver int", lambda w: _approve(w, approver=1), I, "approver must be text"),
    (
        "evidence text",
        lambda w: _approve(w, evidence="x"),
        I,
        "evidence must be a mapping (a dict of name -> value), got str 'x'",
    ),
    ("evidence_uri int", lambda w: _approve(w, evidence_uri=5), I, "evidence_uri must be text"),
    ("dry_run text", lambda w: _approve(w, dry_run="no"), I, "dry_run must be True or False"),
    ("reference None", lambda w: _approve(w, model_reference=None), I, "names no model"),
    ("reference 10k", lambda w: _approve(w, model_reference=f"{w.name}@{LONG}"), I, "is 10000 characters long"),
    ("unknown alias", lambda w: _approve(w, model_reference=f"{w.name}@nope"), N, "has no alias 'nope'"),
]

RECORD: list[Case] = [
    ("event_type int", lambda w: _record(w, event_type=5), I, "event_type must be text, got int 5"),
    ("event_type stage", lambda w: _record(w, event_type="stage"), I, "event type 'stage' cannot be recorded here"),
    ("event_type words", lambda w: _record(w, event_type="Bad Type!"), I, "cannot be recorded here"),
    ("reason list", lambda w: _record(w, reason=[1]), I, "reason must be text, got list [1]"),
    ("evidence text", lambda w: _record(w, evidence="x"), I, "evidence must be a mapping"),
    ("actor int", lambda w: _record(w, actor=1), I, "actor must be text"),
    ("reference int", lambda w: _record(w, model_reference=5), I, "model_reference must be text"),
    ("evidence_uri int", lambda w: _record(w, evidence_uri=5), I, "evidence_uri must be text"),
]

COMPARE_VERSIONS: list[Case] = [
    ("metrics int", lambda w: _leaderboard(w, metrics=5), I, "metrics must be a list of metric names"),
    ("metrics ints", lambda w: _leaderboard(w, metrics=[1]), I, "metrics[0] must be a metric name"),
    ("metric twice", lambda w: _leaderboard(w, metrics=["accuracy", "accuracy"]), I, "is named twice"),
    ("direction", lambda w: _leaderboard(w, metrics={"accuracy": "sideways"}), I, "direction 'sideways'"),
    ("unknown metric", lambda w: _leaderboard(w, metrics=["acuracy"]), I, "did you mean 'accuracy'?"),
    ("latest negative", lambda w: _leaderboard(w, references=None, model_name=w.name, latest=-1), I, "latest=-1"),
    ("latest text", lambda w: _leaderboard(w, references=None, model_name=w.name, latest="x"), I, "whole number"),
    ("latest flag", lambda w: _leaderboard(w, references=None, model_name=w.name, latest=True), I, "not a flag"),
    ("latest nan", lambda w: _leaderboard(w, references=None, model_name=w.name, latest=math.nan), I, "whole"),
    ("model_name int", lambda w: _leaderboard(w, references=None, model_name=5, latest=2), I, "model_name must be"),
    ("filter int", lambda w: _leaderboard(w, references=None, model_name=w.name, filter_query=5), I, "filter_query"),
    ("references dict", lambda w: _leaderboard(w, references={"a": 1}), I, "references must be a list, got dict"),
    ("reference dict", lambda w: _leaderboard(w, references=[{"a": 1}]), I, "references[0] must be text"),
    ("version id word", lambda w: _leaderboard(w, references=None, version_ids=["abc"]), I, "is not a model version"),
    ("both", lambda w: _leaderboard(w, filter_query="accuracy > 0"), I, "not both"),
    ("nothing", lambda w: _leaderboard(w, references=None), I, "nothing to compare"),
    ("registry_url int", lambda w: _leaderboard(w, registry_url=5), I, "registry_url must be text"),
    ("verify_tls text", lambda w: _leaderboard(w, verify_tls="no"), I, "verify_tls must be True or False"),
    ("env list", lambda w: _leaderboard(w, env=[1]), I, "env must be a mapping"),
    ("unknown reference", lambda w: _leaderboard(w, references=[f"{w.name}:7.7.7"]), N, "no version named '7.7.7'"),
]

COMPARE_MODELS: list[Case] = [
    ("gates int", lambda w: _compare(w, gates=5), I, "gates must be a non-empty list of gates"),
    ("gates word", lambda w: _compare(w, gates="accuracy"), I, "gates is not valid JSON"),
    ("gates empty", lambda w: _compare(w, gates=[]), I, "gates must be a non-empty list"),
    ("level text", lambda w: _compare(w, significance_level="x"), I, "significance_level must be a number, got str"),
    ("level nan", lambda w: _compare(w, significance_level=math.nan), I, "significance_level must be a number"),
    ("level 0.7", lambda w: _compare(w, significance_level=0.7), I, "between 0 and 0.5"),
    ("resamples text", lambda w: _compare(w, bootstrap_resamples="x"), I, "bootstrap_resamples must be a whole"),
    ("resamples 10", lambda w: _compare(w, bootstrap_resamples=10), I, "expected 100 to 100000"),
    ("seed text", lambda w: _compare(w, seed="a"), I, "seed must be a whole number"),
    ("trend fraction", lambda w: _compare(w, trend_versions=1.5), I, "trend_versions must be a whole number"),
    ("page_size 0", lambda w: _compare(w, page_size=0), I, "page_size=0: expected 1 to 1000"),
    ("test int", lambda w: _compare(w, significance_test=5), I, "significance_test must be text"),
    ("test unknown", lambda w: _compare(w, significance_test="t-test"), I, "significance_test='t-test'"),
    ("require text", lambda w: _compare(w, require_significance="yes"), I, "require_significance must be True"),
    ("record text", lambda w: _compare(w, record_predictions="no"), I, "record_predictions must be True or False"),
    ("baseline int", lambda w: _compare(w, baseline=5), I, "baseline must be text"),
    ("no candidate", lambda w: _compare(w, candidate=""), I, "no candidate"),
    ("model_name int", lambda w: _compare(w, candidate=":1.0.1", model_name=5), I, "model_name must be text"),
    ("unknown baseline", lambda w: _compare(w, baseline=f"{w.name}:8.8.8"), N, "no version named '8.8.8'"),
]

API: list[Case] = [
    ("Lifecycle url int", lambda w: Lifecycle(5), I, "registry_url must be text, got int 5"),
    ("Lifecycle no url", lambda w: Lifecycle("", env={}), I, "no Model Registry address"),
    ("Lifecycle verify_tls", lambda w: Lifecycle(w.url, verify_tls="no"), I, "verify_tls must be True or False"),
    ("Lifecycle env", lambda w: Lifecycle(w.url, env=["x"]), I, "env must be a mapping"),
    ("get int", lambda w: w.lc.get(5), I, "model reference must be text, got int 5"),
    ("get 10k", lambda w: w.lc.get(LONG), I, "is 10000 characters long"),
    ("get unknown", lambda w: w.lc.get(f"{w.name}@nope"), N, "has no alias 'nope'"),
    ("model int", lambda w: w.lc.model(5), I, "must be text, got int 5"),
    ("search int", lambda w: w.lc.search(5), I, "query must be text, got int 5"),
    ("search stage typo", lambda w: w.lc.search('stage = "prod"'), I, "the stage helper compares with a quoted name"),
    ("search stage number", lambda w: w.lc.search("stage = 5"), I, "stage = 5: the stage helper"),
    ("search approval typo", lambda w: w.lc.search('approval = "ok"'), I, "approval helper compares"),
    ("search model int", lambda w: w.lc.search("", model=5), I, "model must be text"),
    ("search flag", lambda w: w.lc.search("", include_incomplete="yes"), I, "include_incomplete must be True"),
    ("history None", lambda w: w.lc.history(None), I, "model name is empty"),
    ("history 10k", lambda w: w.lc.history(LONG), I, "is too long"),
    ("history version int", lambda w: w.lc.history(w.name, version=5), I, "version must be text"),
    ("compare int", lambda w: w.lc.compare(5), I, "references must be a list of text, got int 5"),
    ("compare comma", lambda w: w.lc.compare("a:1,b:2"), I, "is that one item or several?"),
    ("promote stage int", lambda w: w.lc.promote(w.ref, 5), I, "stage must be text, got int 5"),
    ("promote aliases int", lambda w: w.lc.promote(w.ref, aliases=5), I, "aliases must be a list of text"),
    ("promote evidence_uri", lambda w: w.lc.promote(w.ref, "staging", evidence_uri=5), I, "evidence_uri must be"),
    ("rollback int", lambda w: w.lc.rollback(5), I, "must be text, got int 5"),
    ("approve status None", lambda w: w.lc.approve(w.ref, status=None), I, "approval status None"),
    ("register uri int", lambda w: w.lc.register(w.name, 5), I, "uri must be text, got int 5"),
    ("register name int", lambda w: w.lc.register(123, "s3://m"), I, "name must be text, got int 123"),
    ("register metrics text", lambda w: w.lc.register(w.name, "s3://m", metrics="a=1"), I, "metrics must be a"),
    ("register version int", lambda w: w.lc.register(w.name, "s3://m", version=2), I, "version must be text"),
    ("register datasets text", lambda w: w.lc.register(w.name, "s3://m", datasets="t.csv"), I, "datasets must map"),
    ("register datasets pair", lambda w: w.lc.register(w.name, "s3://m", datasets=[("t", 1)]), I, "is not a role"),
    ("register labels ints", lambda w: w.lc.register(w.name, "s3://m", labels=[1]), I, "labels[0] must be text"),
    ("register nan", lambda w: w.lc.register(w.name, "s3://m", metrics={"f1": math.nan}), I, "metrics['f1'] is nan"),
    ("register missing file", lambda w: w.lc.register(w.name, str(w.tmp / "nope.joblib")), I, "not an existing"),
    ("download dest int", lambda w: w.lc.download(w.ref, 5), I, "dest must be a path"),
]

TABLES = {
    "register": REGISTER,
    "promote": PROMOTE,
    "approve": APPROVE,
    "record": RECORD,
    "compare_versions": COMPARE_VERSIONS,
    "compare_models": COMPARE_MODELS,
    "api": API,
}
CASES = [(f"{table}: {case[0]}", *case[1:]) for table, cases in TABLES.items() for case in cases]


def snapshot(registry: EmbeddedRegistry) -> str:
    """Everything the registry holds (models, versions, artifacts, serving records), as comparable text."""
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        parts = {
            path: sorted(http.get(path).raise_for_status().json()["items"], key=lambda item: int(item["id"]))
            for path in ("/registered_models", "/model_versions", "/artifacts", "/inference_services")
        }
    return json.dumps(parts, sort_keys=True)


@pytest.fixture(scope="module")
def world(registry: EmbeddedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    name = "bad-input-model"
    for run in ("run-0", "run-1"):
        run_register_model(
            model_uri=f"s3://models/{run}",
            model_name=name,
            metrics={"accuracy": 0.9},
            registry_url=registry.url,
            context=RunContext(run_id=run, task_name="register-model"),
            env={},
        )
    with Lifecycle(registry.url, env={}) as lc:
        lc.promote(f"{name}:1.0.0", "production")
        yield World(registry.url, name, lc, tmp_path_factory.mktemp("bad-input"))


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry or token variables from the environment."""


@pytest.mark.parametrize(("call", "kind", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    world: World, registry: EmbeddedRegistry, call: Callable[[World], Any], kind: type[LifecycleError], fragment: str
) -> None:
    before = snapshot(registry)
    with pytest.raises(kind) as info:
        call(world)
    message = str(info.value)
    assert fragment in message, message
    assert len(message) < MAX_MESSAGE and LONG not in message
    assert snapshot(registry) == before, "the registry changed"


def test_a_string_where_a_list_is_expected_is_one_item(world: World, registry: EmbeddedRegistry) -> None:
    events = len(world.lc.history(world.name))
    promoted = world.lc.promote(world.ref, aliases="champion", reason="one alias, not eight")
    assert promoted.aliases == ["champion"] and len(world.lc.history(world.name)) == events + 1
    removed = run_promote_model(model_reference=world.ref, remove_aliases="champion", registry_url=world.url, env={})
    assert removed.aliases == [] and len(world.lc.history(world.name)) == events + 2
    registered = _register(world, model_uri="s3://models/labelled", labels="nightly", version="7.0.0")
    assert world.lc.get(f"{world.name}:{registered.version_name}").labels == ["nightly"]


def test_manual_registrations_record_their_source_without_the_pipeline_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        registered = world.lc.register(world.name, "s3://models/by-hand", model_format="sklearn")
    version = world.lc.get(f"{world.name}:{registered.version_name}")
    assert version.lineage["model_meta_source"] == "manual"
    assert "modelSourceKind" not in version.artifact and "modelSourceClass" not in version.artifact
    assert "a retried task may register another version" not in caplog.text
    piped = _register(world, model_uri="s3://models/piped", version="8.0.0")
    assert world.lc.get(f"{world.name}:{piped.version_name}").artifact["modelSourceKind"] == "kfp"


def test_numeric_text_metrics_are_numbers(world: World) -> None:
    registered = _register(world, model_uri="s3://models/text-metric", metrics={"f1": "0.75"}, version="9.0.0")
    assert world.lc.get(f"{world.name}:{registered.version_name}").metrics == {"f1": 0.75}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"candidate": 5}, "candidate must be text, got int 5"),
        ({"candidate_version_id": 1.5}, "candidate_version_id must be a whole number"),
        ({"model_name": ["m"]}, "model_name must be text"),
        ({"candidate_metrics": [0.9]}, "candidate_metrics must be a mapping"),
        ({"paths": {"candidate_predictions_path": 3}}, "candidate_predictions_path must be text"),
        ({"registry_url": 5}, "registry_url must be text"),
        ({"verify_tls": "no"}, "verify_tls must be True or False"),
        ({"env": "x"}, "env must be a mapping"),
    ],
)
def test_compare_models_candidate_inputs_are_checked(arguments: dict[str, Any], fragment: str) -> None:
    from kfp_model_lifecycle.comparison.settings import check_candidate_inputs

    with pytest.raises(InvalidInputError, match=fragment):
        check_candidate_inputs(**arguments)
    check_candidate_inputs(candidate="iris:1.0.0", candidate_version_id=12.0, candidate_metrics={"accuracy": 0.9})


def test_dataset_inputs_are_accepted_as_before(world: World) -> None:
    dataset = DatasetInput("train", "train", "s3://data/train.csv")
    registered = _register(world, model_uri="s3://models/with-data", datasets=[dataset], version="10.0.0")
    assert world.lc.get(f"{world.name}:{registered.version_name}").lineage["dataset_0_role"] == "train"


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ({"candidate": 5}, "candidate must be text"),
        ({"candidate_version_id": -3}, "candidate_version_id"),
        ({"candidate_metrics": [0.9]}, "candidate_metrics must be a mapping"),
        ({"candidate_predictions_path": 3}, "candidate_predictions_path must be text"),
        ({"verify_tls": "no"}, "verify_tls must be True or False"),
        ({"env": "x"}, "env must be a mapping"),
    ],
)
def test_run_compare_models_checks_candidate_inputs_before_connecting(bad: dict[str, Any], fragment: str) -> None:
    arguments = {"gates": [{"metric": "accuracy", "higher_is_better": True, "threshold": 0.5}], "candidate": "m:1"}
    # an address nothing listens on: reaching it would fail differently, so the check must come first
    with pytest.raises(InvalidInputError, match=fragment):
        run_compare_models(**{**arguments, "registry_url": "http://127.0.0.1:9", **bad})
