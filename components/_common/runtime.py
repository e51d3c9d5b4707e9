"""Where component code runs: base image and pinned packages, in one place.

Every component passes ``**component_kwargs(...)`` to ``@dsl.component``. By default components run on
the public ``python:3.11`` image and pip-install their pinned packages at start-up. When
``KML_COMPONENT_BASE_IMAGE`` is set (``kml compile --base-image IMAGE`` sets it), they use that image
instead -- the runtime image built from ``runtime-image/Dockerfile`` with every package preinstalled -- and install
nothing at start-up.
"""

from __future__ import annotations
import __future__

import os
from collections.abc import Callable
from typing import Any

BASE_IMAGE = "python:3.11"
BASE_IMAGE_ENV = "KML_COMPONENT_BASE_IMAGE"

# Packages installed in component pods (pinned; the runtime image installs exactly these).
KFP = "kfp==2.17.3"
MODEL_REGISTRY = "model-registry==0.3.18"
KUBERNETES = "kubernetes==30.1.0"
SCIKIT_LEARN = "scikit-learn==1.7.2"
JOBLIB = "joblib==1.5.2"

RUNTIME_PACKAGES = (KFP, MODEL_REGISTRY, KUBERNETES, SCIKIT_LEARN, JOBLIB)


def component_kwargs(*packages: str) -> dict[str, Any]:
    """Keyword arguments for ``@dsl.component``: base image and packages to install.

    Args:
        *packages: Pinned requirements the component's code imports (from this module's constants).

    Returns:
        ``base_image`` and ``packages_to_install`` (plus ``install_kfp_package=False`` on the runtime image,
        which already has kfp).
    """
    unknown = [p for p in packages if p not in RUNTIME_PACKAGES]
    if unknown:
        raise ValueError(
            f"packages {unknown} are not in RUNTIME_PACKAGES: add them there so the runtime image has them"
        )
    image = os.environ.get(BASE_IMAGE_ENV, "").strip()
    if image:
        return {"base_image": image, "packages_to_install": [], "install_kfp_package": False}
    return {"base_image": BASE_IMAGE, "packages_to_install": list(packages)}


# Linux limits one command-line argument to 128 KiB (MAX_ARG_STRLEN = 131072 bytes with its NUL), and KFP passes
# a lightweight component's whole program as one argument of `sh -c`, in a cluster as in the local runner
# ("Argument list too long"). Tests keep the compiled program 4 KiB below the limit.
MAX_EMBEDDED_PROGRAM_BYTES = 126_976


def pod_functions(
    entry_points: list[Callable[..., Any]], pool: list[Callable[..., Any]], *, exclude: tuple[str, ...] = ()
) -> list[Callable[..., Any]]:
    """The helpers the pod needs, made compact for ``additional_funcs``.

    Takes the functions of ``pool`` reachable from ``entry_points`` (by the global names their code uses, nested
    functions included), in ``pool`` order, and gives each one a copy whose source has no docstrings (docstrings
    are for readers of this repository; the pod does not need them), so the program stays under the argument
    limit. Everything else in the source -- code, comments, line layout -- is kept verbatim, so the compiled YAML
    is deterministic and independent of the Python version.

    Args:
        entry_points: Functions the component body calls.
        pool: Every function that may be embedded (the modules' ``*_FUNCTIONS`` lists).
        exclude: Names never to embed (code paths the component does not take).

    Returns:
        Function objects whose ``inspect.getsource`` is the compact source.

    Raises:
        ValueError: When two different helpers in ``pool`` share a name.
    """
    import ast
    import inspect
    import linecache
    import textwrap
    import types

    by_name: dict[str, Callable[..., Any]] = {}
    for function in pool:
        other = by_name.setdefault(function.__name__, function)
        if other is not function:
            raise ValueError(
                f"two pod helpers are named {function.__name__!r} ({other.__module__} and {function.__module__}):"
                " rename one, the component source would define it twice"
            )

    def global_names(code: types.CodeType) -> set[str]:
        names = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                names |= global_names(const)
        return names

    needed: set[str] = set()
    todo = [f.__name__ for f in entry_points] + [n for f in entry_points for n in global_names(f.__code__)]
    while todo:
        name = todo.pop()
        if name in needed or name in exclude:
            continue
        needed.add(name)
        function = by_name.get(name)
        if function is not None:
            todo.extend(n for n in global_names(function.__code__) if n in by_name)

    compact = []
    for function in pool:
        if function.__name__ not in needed:
            continue
        source = textwrap.dedent(inspect.getsource(function))
        lines = source.split("\n")
        drop: set[int] = set()
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not body or len(body) < 2:
                continue
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                drop.update(range(first.lineno - 1, first.end_lineno))
        text = "\n".join(line for i, line in enumerate(lines) if i not in drop)
        filename = f"<kml-pod {function.__module__}.{function.__name__}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
        namespace: dict[str, Any] = {}
        exec(compile(text, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True), namespace)  # noqa: S102
        compact.append(namespace[function.__name__])
    return compact


def wire_run_context(
    component: Any,
    entry_point: str,
    *,
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    **arguments: Any,
) -> Any:
    """Add ``component`` to the pipeline being defined with the run context wired (the ``*_with_context`` helpers).

    Passes the run placeholders (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``, ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``,
    ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``: the KFP backend substitutes them only in task arguments) and the
    pipeline's name, exposes the pod's namespace as ``POD_NAMESPACE`` and, with ``token_secret_name``, the
    registry token from that Secret as ``KML_REGISTRY_TOKEN``. The Kubernetes settings apply on a cluster; local
    runs ignore them.

    Args:
        component: The component (its inputs include ``run_id``, ``run_name``, ``pipeline_name``, ``task_name``).
        entry_point: Name of the calling helper, for the error message.
        token_secret_name: Kubernetes Secret holding the registry token, or None.
        token_secret_key: Key of the token in that Secret.
        **arguments: The component's other arguments; None values are left out (component defaults apply).

    Returns:
        The task.

    Raises:
        RuntimeError: When called outside a ``@dsl.pipeline`` function.
    """
    from kfp import dsl, kubernetes
    from kfp.dsl import pipeline_context

    pipeline = pipeline_context.Pipeline.get_default_pipeline()
    if pipeline is None:
        raise RuntimeError(
            f"{entry_point}() adds a task to a pipeline: call it inside a @dsl.pipeline function"
            f" (outside one, call the {component.name} component directly)"
        )
    task = component(
        **{k: v for k, v in arguments.items() if v is not None},
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        pipeline_name=pipeline.name,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    )
    kubernetes.use_field_path_as_env(task, "POD_NAMESPACE", "metadata.namespace")
    if token_secret_name:
        kubernetes.use_secret_as_env(
            task, secret_name=token_secret_name, secret_key_to_env={token_secret_key: "KML_REGISTRY_TOKEN"}
        )
    return task
