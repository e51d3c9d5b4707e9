"""Shipping large pod code in a lightweight component: only what is reachable, compressed.

KFP passes a lightweight component's whole Python source to the container as ONE command-line argument, and Linux
limits a single exec argument to 128 KiB (``MAX_ARG_STRLEN``): beyond it the pod fails with "Argument list too
long" (E2BIG), on a cluster and with ``kfp.local`` alike. ``deploy_model`` needs the registry client, lineage and
lifecycle helpers plus its own (about 190 KB of source), so :func:`packed_pod_code` builds one small loader
function for ``additional_funcs`` that carries the helpers bz2-compressed and base64-encoded (about 50 KB) and, when
called first thing in the component body, defines them in the component's module. The helpers stay plain,
readable module-level functions in the repository; only their transport changes. The output is deterministic
(bz2 has no timestamps), so compiled YAML is byte-identical across compiles.

This module runs at compile time only (it is not pod code).
"""

from __future__ import annotations

import base64
import bz2
import inspect
import linecache
import textwrap
import types
from collections.abc import Callable, Iterable

PACKED_FILENAME = "<kfp-model-lifecycle pod code>"


def _referenced_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _referenced_names(const)
    return names


def reachable_functions(entries: Iterable[Callable], pool: Iterable[Callable]) -> list[Callable]:
    """The functions of ``pool`` that ``entries`` call, directly or through each other, in ``pool`` order.

    Args:
        entries: The functions the component body calls.
        pool: Every pod helper that may be needed (e.g. ``[*REGISTRY_CLIENT_FUNCTIONS, ...]``).

    Returns:
        The closure (entries included), ordered as in ``pool``.

    Raises:
        ValueError: When an entry is not in the pool or two helpers share a name.
    """
    by_name: dict[str, Callable] = {}
    for func in pool:
        if func.__name__ in by_name and by_name[func.__name__] is not func:
            raise ValueError(f"two pod helpers are named {func.__name__!r}: rename one")
        by_name[func.__name__] = func
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        func = todo.pop()
        if func.__name__ not in by_name:
            raise ValueError(f"{func.__name__} is not in the pool of pod helpers")
        if func.__name__ in seen:
            continue
        seen.add(func.__name__)
        todo.extend(by_name[n] for n in _referenced_names(func.__code__) if n in by_name and n not in seen)
    return [func for name, func in by_name.items() if name in seen]


def pod_source(functions: Iterable[Callable]) -> str:
    """The source of ``functions`` as KFP embeds ``additional_funcs``: dedented, decorators dropped.

    Args:
        functions: Module-level pod helpers.

    Returns:
        Their source, separated by blank lines.
    """
    parts = []
    for func in functions:
        lines = textwrap.dedent(inspect.getsource(func)).split("\n")
        while lines and not lines[0].startswith("def "):
            lines.pop(0)
        parts.append("\n".join(lines).rstrip() + "\n")
    return "\n\n".join(parts)


def packed_pod_code(name: str, entries: Iterable[Callable], pool: Iterable[Callable]) -> Callable[[], None]:
    """A loader function for ``additional_funcs`` that defines the (compressed) helpers when called.

    Call it first thing in the component body. In the pod it defines every helper reachable from ``entries`` in
    the component's module (and registers their source for readable tracebacks); in-process (``python_func``)
    the helpers are already imported and calling it only costs a decompression.

    Args:
        name: The loader's name, e.g. ``kml_deploy_model_pod_code`` (a module-level name of the component's module
            must refer to the returned function, so the component body resolves it in-process too).
        entries: The helpers the component body calls.
        pool: Every pod helper that may be needed.

    Returns:
        The loader; ``inspect.getsource`` (which KFP uses) returns its generated source.
    """
    functions = reachable_functions(list(entries), list(pool))
    source = pod_source(functions)
    packed = base64.b64encode(bz2.compress(source.encode("utf-8"), 9)).decode("ascii")
    chunks = textwrap.wrap(packed, 100)
    listing = textwrap.fill(", ".join(f.__name__ for f in functions), 108, subsequent_indent="        ")
    modules = sorted({f.__module__ for f in functions})
    module_lines = textwrap.fill(", ".join(modules), 108, subsequent_indent="        ")
    body = "\n".join(f'        "{chunk}"' for chunk in chunks)
    loader = f'''def {name}() -> None:
    """Define this component's helper functions: kfp-model-lifecycle pod code, shipped compressed.

    KFP passes a component's source as one command-line argument, which Linux limits to 128 KiB, so the helpers
    travel bz2-compressed and base64-encoded ({len(source)} bytes of source). Readable in the kfp-model-lifecycle
    repository, modules {module_lines}.
    Functions: {listing}.
    """
    import base64
    import bz2
    import linecache

    packed = (
{body}
    )
    code = bz2.decompress(base64.b64decode(packed)).decode("utf-8")
    filename = "{PACKED_FILENAME}"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), globals())  # noqa: S102 - our own code, shipped in this component
'''
    filename = f"<kfp-model-lifecycle loader {name}>"
    linecache.cache[filename] = (len(loader), None, loader.splitlines(True), filename)
    namespace: dict[str, object] = {"__name__": f"kfp_model_lifecycle.packed.{name}"}
    exec(compile(loader, filename, "exec"), namespace)  # noqa: S102 - source generated above from our functions
    function = namespace[name]
    assert callable(function)
    return function
