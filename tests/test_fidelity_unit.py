"""What the real Model Registry and KFP backend need from the library, checked without a registry.

* ``int_value`` (9 digits in the v1 API schema, int32 on the server): larger integers are stored as doubles (exact
  up to 2**53) or text, and read back as ints.
* Names: the registry stores ``<owner id>:<name>`` in 255 characters; too long names fail before any write.
* Istio's ``403 RBAC: access denied`` is named as such; the service-account token goes over http only on opt-in.
* A configured token Secret that gives no token fails the task at once, naming the Secret and key.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl
from mr_openapi import exceptions as mr_exc

from kfp_model_lifecycle.client import describe_registry_error, resolve_registry_token
from kfp_model_lifecycle.client import settings as client_settings
from kfp_model_lifecycle.components._common import runtime
from kfp_model_lifecycle.components.register_model import register_model, register_model_with_lineage
from kfp_model_lifecycle.errors import InvalidInputError, RegistryAuthError, RegistryTokenMissingError
from kfp_model_lifecycle.lifecycle import lifecycle_property, plain_properties
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetRecord
from kfp_model_lifecycle.local.registry.server import free_port
from kfp_model_lifecycle.registration.artifacts import build_dataset_artifacts
from kfp_model_lifecycle.registration.names import (
    bounded_external_id,
    check_artifact_name,
    check_property_key,
)
from kfp_model_lifecycle.registration.properties import build_version_properties, to_metadata_value
from kfp_model_lifecycle.registration.run import run_register_model
from kfp_model_lifecycle.registration.writes import attempt_key, registration_key

INT_VALUE_MAX = 999_999_999  # the v1 API schema: 9 digits (the server's column is int32, wider)

# -- integers: the registry's int_value is 32 bits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (INT_VALUE_MAX, {"int_value": str(INT_VALUE_MAX), "metadataType": "MetadataIntValue"}),
        (-INT_VALUE_MAX, {"int_value": str(-INT_VALUE_MAX), "metadataType": "MetadataIntValue"}),
        (INT_VALUE_MAX + 1, {"double_value": 1e9, "metadataType": "MetadataDoubleValue"}),
        (2**31, {"double_value": float(2**31), "metadataType": "MetadataDoubleValue"}),
        (-(2**31) - 1, {"double_value": float(-(2**31) - 1), "metadataType": "MetadataDoubleValue"}),
        (1_700_000_000_123, {"double_value": 1_700_000_000_123.0, "metadataType": "MetadataDoubleValue"}),
        (2**53, {"double_value": float(2**53), "metadataType": "MetadataDoubleValue"}),
        (2**53 + 1, {"string_value": str(2**53 + 1), "metadataType": "MetadataStringValue"}),
        (-(2**63), {"string_value": str(-(2**63)), "metadataType": "MetadataStringValue"}),
    ],
)
def test_integers_beyond_32_bits_are_stored_as_doubles_or_text(value: int, wire: dict[str, Any]) -> None:
    from mr_openapi.models import MetadataValue

    assert lifecycle_property(value) == wire
    assert MetadataValue.from_dict(wire).to_dict() == wire  # the official client's schema accepts it
    assert to_metadata_value(value) == wire  # register_model's codec is the same
    read = plain_properties({"customProperties": {"k": wire}})["k"]
    if "string_value" in wire:
        assert read == str(value)  # beyond 2**53 a double would round: the digits are kept as text
    else:
        assert read == value and isinstance(read, int)


def test_doubles_keep_reading_as_floats() -> None:
    props = {
        "a": lifecycle_property(0.5),
        "b": lifecycle_property(3.0),
        "c": {"double_value": 1e300, "metadataType": "MetadataDoubleValue"},
    }
    assert plain_properties({"customProperties": props}) == {"a": 0.5, "b": 3.0, "c": 1e300}
    assert isinstance(plain_properties({"customProperties": props})["b"], float)  # inside int32: a float stays


def test_version_properties_with_large_integers_fit_the_registry() -> None:
    props, _ = build_version_properties(
        RunContext(run_id="r"),
        model_uri="s3://m",
        hyperparameters={"seed": 2**40, "n": 7, "huge": 2**60, "steps": "3000000000"},
        model_metadata={"trained_at_ms": 1_700_000_000_000},
        metrics={"samples": 5_000_000_000},
    )
    ints = [int(v["int_value"]) for v in props.values() if "int_value" in v]
    assert ints == [7] and all(abs(i) <= INT_VALUE_MAX for i in ints)
    assert props["hp_seed"] == {"double_value": float(2**40), "metadataType": "MetadataDoubleValue"}
    assert props["hp_steps"]["double_value"] == 3e9  # a numeric string (a pipeline parameter in a dict)
    assert props["hp_huge"] == {"string_value": str(2**60), "metadataType": "MetadataStringValue"}
    assert props["model_meta_trained_at_ms"]["double_value"] == 1.7e12
    assert props["samples"]["double_value"] == 5e9


# -- names: '<owner id>:<name>' in varchar(255) ---------------------------------------------------------------


def test_artifact_name_limits_follow_the_owner_prefix() -> None:
    assert check_artifact_name("m" * 244, linked=True) == "m" * 244
    with pytest.raises(InvalidInputError, match=r"at most 244 .*'<version id>:'"):
        check_artifact_name("m" * 245, linked=True)
    assert check_artifact_name("d" * 218, linked=False) == "d" * 218
    with pytest.raises(InvalidInputError, match=r"at most 218 .*generated UUID"):
        check_artifact_name("d" * 219, linked=False)
    with pytest.raises(InvalidInputError, match="generated UUID"):
        check_artifact_name("", linked=False)
    with pytest.raises(InvalidInputError, match=r"dataset role \(train, eval, test\)|at most 218"):
        build_dataset_artifacts([DatasetRecord("r" * 220, "x", "s3://d")])


def test_property_names_and_external_ids_fit_255_characters() -> None:
    assert check_property_key("k" * 255, "label") == "k" * 255
    with pytest.raises(InvalidInputError, match=r"label name 'kkk.*is 256 characters long: at most 255"):
        check_property_key("k" * 256, "label")
    with pytest.raises(InvalidInputError, match="hyperparameter name"):
        build_version_properties(RunContext(), model_uri="s3://m", hyperparameters={"x" * 253: 1})
    assert bounded_external_id("kfp:r:t:m:abc") == "kfp:r:t:m:abc"
    long_key = "kfp:run:task:" + "m" * 300
    bounded = bounded_external_id(long_key)
    assert len(bounded) <= 255 and bounded == bounded_external_id(long_key) and bounded.startswith("kfp:run:task:")
    assert bounded != bounded_external_id(long_key + "x")
    context = RunContext(run_id="0" * 36, task_name="t" * 60)
    assert len(registration_key(context, "m" * 244, "s3://m")) <= 255
    assert len(attempt_key("m" * 244)) <= 255


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("model_name", "m" * 245, "model_name 'mmm"),
        ("version", "v" * 245, "version 'vvv"),
    ],
)
def test_too_long_names_fail_before_any_request(field: str, value: str, fragment: str) -> None:
    arguments = {"model_uri": "s3://m", "model_name": "iris", field: value}
    unreachable = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InvalidInputError) as info:
        run_register_model(**arguments, registry_url=unreachable, env={})
    message = str(info.value)
    assert fragment in message and "245 characters long: at most 244" in message and "Fix:" in message
    assert len(message) < 500


# -- the registry behind Istio: 403 "RBAC: access denied" -------------------------------------------------


def _forbidden(body: str) -> Exception:
    return mr_exc.ForbiddenException(status=403, reason="Forbidden", body=body)


def test_istio_denial_is_named_with_both_routes() -> None:
    err = describe_registry_error(_forbidden("RBAC: access denied"), "http://mr:8080", "reach the registry")
    text = str(err)
    assert isinstance(err, RegistryAuthError) and err.status == 403
    assert "RBAC: access denied" in text and "Istio" in text and "not from Kubernetes RBAC" in text
    assert "istio-ingressgateway.istio-system.svc.cluster.local" in text and "KML_REGISTRY_SEND_SA_TOKEN=true" in text
    assert "kube-rbac-proxy" in text and "8443" in text
    assert "RoleBinding" not in text  # the wrong fix for Istio


def test_other_403s_point_at_the_permission() -> None:
    body = json.dumps({"code": "Forbidden", "message": "forbidden"})
    text = str(describe_registry_error(_forbidden(body), "https://mr:8443", "reach the registry"))
    assert "Istio" not in text and "services/<registry name>" in text and "RoleBinding" in text


def test_service_account_token_over_http_only_on_opt_in(tmp_path: Path) -> None:
    sa = tmp_path / "token"
    sa.write_text("sa-secret\n")
    token, source = resolve_registry_token("http", {}, str(sa))
    assert token is None and "KML_REGISTRY_SEND_SA_TOKEN=true" in source
    for text in ("true", "TRUE", "1", "yes"):
        token, source = resolve_registry_token("http", {"KML_REGISTRY_SEND_SA_TOKEN": text}, str(sa))
        assert token == "sa-secret" and "over http" in source and "sa-secret" not in source
    assert resolve_registry_token("http", {"KML_REGISTRY_SEND_SA_TOKEN": "false"}, str(sa))[0] is None
    assert resolve_registry_token("https", {}, str(sa))[0] == "sa-secret"  # https as before
    with pytest.raises(ValueError, match="KML_REGISTRY_SEND_SA_TOKEN='maybe' is not a boolean"):
        resolve_registry_token("http", {"KML_REGISTRY_SEND_SA_TOKEN": "maybe"}, str(sa))


# -- the token Secret: optional, and a missing token fails fast -------------------------------------------


POD = {"KFP_POD_NAME": "train-x-123", "POD_NAMESPACE": "team-a"}


def test_missing_token_in_a_kfp_pod_names_the_secret_and_key(tmp_path: Path) -> None:
    env = {**POD, "KML_REGISTRY_TOKEN_SECRET": "mr-token", "KML_REGISTRY_TOKEN_SECRET_KEY": "jwt"}
    for token in ({}, {"KML_REGISTRY_TOKEN": "  "}):
        with pytest.raises(RegistryTokenMissingError) as info:
            resolve_registry_token("https", {**env, **token}, str(tmp_path / "sa"))
        text = str(info.value)
        assert isinstance(info.value, PermissionError)
        assert "Secret 'mr-token' (key 'jwt'" in text and "namespace team-a" in text
        assert "kubectl create secret generic mr-token --from-literal=jwt=<token> -n team-a" in text
    assert resolve_registry_token("https", {**env, "KML_REGISTRY_TOKEN": "t"})[0] == "t"


def test_missing_token_outside_a_pod_falls_back(tmp_path: Path) -> None:
    """Local runs never mount Secrets: without KFP_POD_NAME the other token sources apply."""
    sa = tmp_path / "sa"
    sa.write_text("sa-secret")
    env = {"KML_REGISTRY_TOKEN_SECRET": "mr-token", "KML_REGISTRY_TOKEN_SECRET_KEY": "token"}
    assert resolve_registry_token("https", env, str(sa)) == ("sa-secret", "the pod's service-account token")


def test_secret_named_by_a_pipeline_parameter_is_named_so() -> None:
    env = {**POD, "KML_REGISTRY_TOKEN_SECRET": "pipeline parameter registry_secret"}
    with pytest.raises(RegistryTokenMissingError, match="Secret named by the pipeline parameter 'registry_secret'"):
        client_settings.check_token_secret(env)


def test_the_component_fails_before_any_request_when_the_token_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kfp.dsl import Model

    for name, value in {
        **POD,
        "KML_REGISTRY_TOKEN_SECRET": "mr-token",
        "KML_REGISTRY_TOKEN_SECRET_KEY": "token",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KML_REGISTRY_TOKEN", raising=False)
    model = Model(name="model", uri=str(tmp_path / "m"), metadata={})
    out = Model(name="registered_model", uri=str(tmp_path / "out"), metadata={})
    with pytest.raises(RegistryTokenMissingError, match="Secret 'mr-token'"):
        register_model.python_func(
            model=model,
            registered_model=out,
            model_name="iris",
            run_id="r1",
            registry_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: the check comes first
        )


def test_entry_points_mount_the_secret_optional_and_name_it(tmp_path: Path) -> None:
    @dsl.component(base_image="python:3.11")
    def train(model: dsl.Output[dsl.Model]) -> None:
        pass  # pragma: no cover

    @dsl.pipeline(name="secret-wiring")
    def flow(secret: str = "from-param") -> None:  # noqa: S107 - a Secret's name
        model = train().outputs["model"]
        register_model_with_lineage(model, "a", token_secret_name="mr-token", token_secret_key="jwt")
        register_model_with_lineage(model, "b", token_secret_name=secret)
        register_model_with_lineage(model, "c")

    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(flow, str(path))
    spec, platform = list(yaml.safe_load_all(path.read_text()))
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    first, second = executors["exec-register-model"], executors["exec-register-model-2"]
    assert first["secretAsEnv"][0]["optional"] is True and second["secretAsEnv"][0]["optional"] is True
    assert "secretAsEnv" not in executors.get("exec-register-model-3", {})
    envs = {
        name: {e["name"]: e["value"] for e in spec["deploymentSpec"]["executors"][name]["container"].get("env", [])}
        for name in ("exec-register-model", "exec-register-model-2", "exec-register-model-3")
    }
    assert envs["exec-register-model"] == {
        "KML_REGISTRY_TOKEN_SECRET": "mr-token",
        "KML_REGISTRY_TOKEN_SECRET_KEY": "jwt",
    }
    assert envs["exec-register-model-2"]["KML_REGISTRY_TOKEN_SECRET"] == "pipeline parameter secret"
    assert envs["exec-register-model-3"] == {}


def test_compile_time_and_pod_names_agree() -> None:
    """runtime.py (compile time) does not import the client; its names must be the ones the pod reads."""
    assert runtime.TOKEN_ENV == client_settings.TOKEN_ENV
    assert runtime.TOKEN_SECRET_ENV == client_settings.TOKEN_SECRET_ENV
    assert runtime.TOKEN_SECRET_KEY_ENV == client_settings.TOKEN_SECRET_KEY_ENV
    assert runtime.SECRET_PARAMETER_PREFIX == client_settings.SECRET_PARAMETER_PREFIX
