"""KServe's own model server with a tiny scikit-learn model class: the "pod" of one local revision.

Run by the local cluster's controller, one process per revision::

    python -m kfp_model_lifecycle.local.cluster.model_server --model-dir DIR --model-name NAME --http-port PORT

It loads the single ``*.joblib`` / ``*.pkl`` / ``*.pickle`` file of ``DIR`` (the layout of KServe's in-cluster
sklearn runtime) and serves it with ``kserve.ModelServer`` on ``127.0.0.1:PORT`` over the V1
(``/v1/models/NAME:predict``) and V2 (``/v2/models/NAME/infer``) REST protocols; gRPC is off. A model that
cannot be loaded makes the process exit with code 1 and a ``ModelLoadFailed: <why>`` line on stderr, as the
runtime container does; without ``kserve`` it exits with code 2 and ``RuntimeUnhealthy: <why>``.

``kserve`` is a development dependency (the ``dev`` extra), imported only inside :func:`main` and
:func:`build_model_class`: ``import kserve`` parses ``sys.argv`` at import time, so this module parses its
own arguments first and hides them from kserve.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.model_server")

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")
LOAD_FAILED_EXIT_CODE = 1
RUNTIME_FAILED_EXIT_CODE = 2
FAILURE_REASONS = ("ModelLoadFailed", "RuntimeUnhealthy")  # the "<reason>: <message>" lines on stderr


class ModelLoadError(RuntimeError):
    """The model directory holds no loadable model (the runtime's ``ModelLoadFailed``)."""


def find_model_file(model_dir: str | Path) -> Path:
    """The one model file of a KServe sklearn model directory (or the file itself).

    Args:
        model_dir: A directory with exactly one ``*.joblib``, ``*.pkl`` or ``*.pickle`` file, or such a file.

    Returns:
        The model file.

    Raises:
        ModelLoadError: when there is no such file, or more than one.
    """
    path = Path(model_dir)
    if path.is_file():
        if path.suffix not in MODEL_SUFFIXES:
            raise ModelLoadError(f"{path}: expected a {'/'.join('*' + s for s in MODEL_SUFFIXES)} model file")
        return path
    if not path.is_dir():
        raise ModelLoadError(f"model directory {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    if not files:
        raise ModelLoadError(
            f"no model file in {path}: expected exactly one *.joblib, *.pkl or *.pickle file"
            f" (found: {sorted(p.name for p in path.iterdir()) or 'nothing'})"
        )
    if len(files) > 1:
        raise ModelLoadError(
            f"more than one model file in {path} ({', '.join(p.name for p in files)}): keep exactly one"
        )
    return files[0]


def load_estimator(model_file: Path) -> Any:
    """Load a scikit-learn estimator with joblib (``.joblib``) or pickle (``.pkl``, ``.pickle``).

    Raises:
        ModelLoadError: when the file cannot be unpickled or the object has no ``predict``.
    """
    import joblib

    try:
        if model_file.suffix == ".joblib":
            estimator = joblib.load(model_file)
        else:
            with model_file.open("rb") as handle:
                estimator = pickle.load(handle)  # noqa: S301 - the user's own model file, as KServe does
    except Exception as exc:  # any unpickling error is a failed load
        raise ModelLoadError(f"cannot load {model_file}: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(estimator, "predict", None)):
        raise ModelLoadError(f"{model_file} holds a {type(estimator).__name__}, which has no predict() method")
    return estimator


def build_model_class() -> type:
    """The ``kserve.Model`` subclass serving one scikit-learn estimator (imports ``kserve``)."""
    import kserve
    from kserve.utils.utils import get_predict_input, get_predict_response

    class SKLearnModel(kserve.Model):
        """A scikit-learn estimator behind KServe's V1 and V2 protocols, like KServe's sklearn runtime.

        Args:
            name: The model name used in the endpoint paths (the InferenceService name).
            model_dir: The model directory (see :func:`find_model_file`).
            estimator: An already loaded estimator (then :meth:`load` is not needed).
        """

        def __init__(self, name: str, model_dir: str, estimator: Any = None) -> None:
            super().__init__(name)
            self.model_dir = model_dir
            self._estimator: Any = estimator
            self.ready = estimator is not None

        def load(self) -> bool:
            """Load the estimator; raises :class:`ModelLoadError` when it cannot."""
            self._estimator = load_estimator(find_model_file(self.model_dir))
            self.ready = True
            return self.ready

        def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
            """``{"instances": [[...]]}`` -> ``{"predictions": [...]}`` (V1) or an ``InferResponse`` (V2)."""
            instances = get_predict_input(payload)
            try:
                result = self._estimator.predict(instances)
            except Exception as exc:
                raise kserve.errors.InferenceError(str(exc)) from exc
            return get_predict_response(payload, result, self.name)

    return SKLearnModel


def _exit_with_parent(parent_pid: int) -> None:
    """Exit this process when its parent (the local cluster) is gone, so no server outlives it."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, name="kml-parent-watch", daemon=True).start()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kfp_model_lifecycle.local.cluster.model_server",
        description="Serve a scikit-learn model directory with kserve.ModelServer (V1 and V2 REST, loopback only).",
    )
    parser.add_argument("--model-dir", required=True, help="directory with one *.joblib|*.pkl|*.pickle file")
    parser.add_argument("--model-name", required=True, help="model name in the endpoint paths")
    parser.add_argument("--http-port", type=int, required=True, help="HTTP port on 127.0.0.1")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the model and serve it until SIGTERM; exit code 1 when the model cannot be loaded."""
    args = _parse_args(argv)
    sys.argv = sys.argv[:1]  # `import kserve` parses sys.argv: give it none of ours
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)

    try:  # load before importing kserve (seconds): a broken model fails fast, as the runtime's load does
        estimator = load_estimator(find_model_file(args.model_dir))
    except ModelLoadError as exc:
        print(f"ModelLoadFailed: {exc}", file=sys.stderr, flush=True)
        return LOAD_FAILED_EXIT_CODE

    try:
        import kserve
        import kserve.model_server as kserve_model_server
    except ImportError as exc:
        print(
            f"RuntimeUnhealthy: cannot import kserve ({exc}); install the dev extra: pip install -e '.[dev]' "
            "(kserve==0.21.0)",
            file=sys.stderr,
            flush=True,
        )
        return RUNTIME_FAILED_EXIT_CODE

    class LoopbackRESTServer(kserve_model_server.RESTServer):  # type: ignore[misc, name-defined]
        """KServe's REST server binds 0.0.0.0; the local cluster serves on loopback only."""

        def __init__(self, *pargs: Any, **kwargs: Any) -> None:
            super().__init__(*pargs, **kwargs)
            self.config.host = "127.0.0.1"

    kserve_model_server.RESTServer = LoopbackRESTServer  # ModelServer.start() looks the class up here

    model = build_model_class()(args.model_name, args.model_dir, estimator)
    server = kserve.ModelServer(
        http_port=args.http_port, enable_grpc=False, workers=1, grace_period=2, enable_latency_logging=False
    )
    server.start([model])  # returns after SIGTERM / SIGINT, once uvicorn has shut down
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip tearing down kserve's big module graph at exit (seconds of garbage collection)


if __name__ == "__main__":
    sys.exit(main())
