"""``kml registry serve`` fails clearly and once, and starts with only what it needs.

A port out of range, a port that is taken, a ``--db`` that is a directory or not a SQLite file: one line saying
what is wrong and what to do, exit code 1 (2 for bad arguments), no traceback, and no "serving on ..." line
before it. Start-up speed itself is measured by ``bench/registry.py``; here we check what makes it fast: the
server imports the client's generated models without the client's HTTP stack, and the client still works fully
in the same process afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.errors import RegistryDatabaseError

BANNER = "Model Registry (REST API v1) on"


def kml_serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kfp_model_lifecycle.cli", "registry", "serve", "--log-level", "warning", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert BANNER not in result.stderr  # never "serving on ..." for a server that does not serve
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_is_a_clear_error(tmp_path: Path, port: str) -> None:
    result = kml_serve("--port", port, "--db", str(tmp_path / "r.db"))
    assert_clean_failure(result, 2, "argument --port", "ports are 0-65535")


def test_a_port_that_is_taken_fails_once_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kml_serve("--port", str(port), "--db", str(tmp_path / "r.db"))
    assert_clean_failure(result, 1, f"cannot listen on 127.0.0.1:{port}", "pick another --port")
    assert result.stderr.count("error:") == 1


def test_a_gateway_port_that_is_taken_names_its_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        gateway = taken.getsockname()[1]
        result = kml_serve("--port", "0", "--istio-guard", "--gateway-port", str(gateway), "--db", str(tmp_path / "r"))
    assert_clean_failure(result, 1, "pick another --gateway-port")


def test_a_db_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = kml_serve("--port", "0", "--db", str(tmp_path))
    assert_clean_failure(result, 1, "is a directory", "give the path of a SQLite file")


def test_a_db_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are notes, not a database\n" * 100)
    result = kml_serve("--port", "0", "--db", str(bogus))
    assert_clean_failure(result, 1, "is not a SQLite database")
    assert bogus.read_text().startswith("these are notes")  # left untouched


@pytest.mark.parametrize("in_process", [True, False])
@pytest.mark.parametrize(("content", "fragment"), [(None, "is a directory"), ("notes\n", "not a SQLite database")])
def test_embedded_registry_on_a_bad_db_raises_a_clear_error(
    tmp_path: Path, in_process: bool, content: str | None, fragment: str
) -> None:
    path = tmp_path
    if content is not None:
        path = tmp_path / "notes.txt"
        path.write_text(content)
    registry = EmbeddedRegistry(path, in_process=in_process)
    with pytest.raises(RegistryDatabaseError, match=fragment) as raised:
        registry.start()
    assert isinstance(raised.value, ValueError)  # callers may catch the builtin
    registry.stop()


def test_the_server_loads_the_client_models_without_its_http_stack() -> None:
    code = textwrap.dedent(
        """
        import sys, warnings
        import kfp_model_lifecycle.local.registry.server
        heavy = sorted(m for m in sys.modules if m.startswith(("aiohttp", "mr_openapi.api", "model_registry", "kfp.")))
        assert heavy == [], heavy
        # The same process can still use the whole client, with the same model classes.
        from mr_openapi import ApiClient, ModelVersionCreate
        from mr_openapi.models import ModelVersionCreate as Same
        assert ModelVersionCreate is Same
        import model_registry
        from kfp_model_lifecycle.local.registry import EmbeddedRegistry
        warnings.simplefilter("ignore")
        with EmbeddedRegistry() as registry:
            client = model_registry.ModelRegistry(registry.address, registry.port, author="me", is_secure=False)
            client.register_model("m", "s3://b/m", model_format_name="sklearn", model_format_version="1", version="v1")
            assert client.get_model_version("m", "v1").name == "v1"
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_kml_registry_serve_does_not_import_kfp() -> None:
    code = "import sys; from kfp_model_lifecycle.cli.main import resolve_handler; from kfp_model_lifecycle.cli.parsers "
    code += (
        "import build_parser; args = build_parser().parse_args(['registry', 'serve']); resolve_handler(args.handler)"
    )
    code += "; import kfp_model_lifecycle.local.registry.server; print(sorted(m for m in sys.modules if m == 'kfp'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
