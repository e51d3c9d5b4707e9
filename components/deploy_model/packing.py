"""Shipping pod code that is too large even for ``runtime.pod_functions``: the same helpers, compressed.

KFP passes a lightweight component's whole program as one command-line argument, and Linux refuses arguments of
128 KiB or more (``MAX_ARG_STRLEN``; ``runtime.MAX_EMBEDDED_PROGRAM_BYTES`` keeps 4 KiB of margin).
``runtime.pod_functions`` embeds only the helpers the component reaches, without docstrings: enough for the other
components, not for ``deploy_model`` (about 140 KB even so: the registry client, lineage and lifecycle helpers plus
its own). :func:`packed_pod_code` takes exactly what ``pod_functions`` selects, compresses it (bz2, base64:
about 40 KB) and returns one small loader function for ``additional_funcs``; called first thing in the component
body, it defines the helpers in the component's module. The output is deterministic (bz2 streams carry no
timestamps), so compiled YAML is byte-identical across compiles, and the helpers stay plain, readable functions in
this repository.

This module runs at compile time only (it is not pod code).
"""

from __future__ import annotations

import base64
import bz2
import inspect
import linecache
import textwrap
from collections.abc import Callable
from typing import Any

from kfp_model_lifecycle.components._common.runtime import pod_functions

PACKED_FILENAME = "<kfp-model-lifecycle pod code>"


def pod_source(functions: list[Callable[..., Any]]) -> str:
    """The source of ``functions`` as KFP embeds ``additional_funcs``: dedented, decorators dropped.

    Args:
        functions: Pod helpers (e.g. the compact copies ``pod_functions`` returns).

    Returns:
        Their source, separated by blank lines.
    """
    parts = []
    for function in functions:
        lines = textwrap.dedent(inspect.getsource(function)).split("\n")
        while lines and not lines[0].startswith("def "):
            lines.pop(0)
        parts.append("\n".join(lines).rstrip() + "\n")
    return "\n\n".join(parts)


def packed_pod_code(
    name: str, entry_points: list[Callable[..., Any]], pool: list[Callable[..., Any]]
) -> Callable[[], None]:
    """A loader for ``additional_funcs`` that defines the compressed helpers ``pod_functions`` selects when called.

    Call it first thing in the component body. In the pod it defines every helper reachable from
    ``entry_points`` in the component's module (and registers their source, so tracebacks show the lines);
    in-process (``component.python_func``) the helpers are already imported and the call only costs a
    decompression.

    Args:
        name: The loader's name, e.g. ``kml_deploy_model_pod_code``; a module-level name of the component's module
            must refer to the returned function, so the component body resolves it in-process too.
        entry_points: The helpers the component body calls.
        pool: Every pod helper that may be needed (the modules' ``*_FUNCTIONS`` lists).

    Returns:
        The loader; ``inspect.getsource`` (which KFP uses) returns its generated source.
    """
    functions = pod_functions(entry_points, pool)
    source = pod_source(functions)
    packed = base64.b64encode(bz2.compress(source.encode("utf-8"), 9)).decode("ascii")
    body = "\n".join(f'        "{chunk}"' for chunk in textwrap.wrap(packed, 100))
    listing = textwrap.fill(", ".join(f.__name__ for f in functions), 108, subsequent_indent="        ")
    loader = f'''def {name}() -> None:
    """Define this component's helper functions (kfp-model-lifecycle pod code, shipped compressed).

    KFP passes a component's program as one command-line argument, which Linux limits to 128 KiB, so the helpers
    ({len(source)} bytes of source without docstrings) travel bz2-compressed and base64-encoded. Readable, with
    their documentation, in the kfp-model-lifecycle repository: components/_common and components/deploy_model.
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
    namespace: dict[str, Any] = {"__name__": f"kfp_model_lifecycle.packed.{name}"}
    exec(compile(loader, filename, "exec", dont_inherit=True), namespace)  # noqa: S102 - generated above
    return namespace[name]
