"""Query and act on the model lifecycle from Python and from the ``kml models`` command.

Python::

    from kfp_model_lifecycle.cli.models import open_registry, list_models, show_model, promote

    with open_registry("http://127.0.0.1:8080") as conn:          # or open_registry(db="registry.db")
        for row in list_models(conn):
            print(row["name"], row["production"], row["aliases"])
        promote(conn, "iris:1.0.3", stage="production", aliases=["champion"], reason="better")

Command line (``kml models --help``)::

    kml models list
    kml models search 'accuracy > 0.9 AND stage = "production"'
    kml models show iris@champion
    kml models history iris
    kml models promote iris:1.0.3 --stage production --alias champion --reason "accuracy +2%"
    kml models approve iris:1.0.3 --comment "reviewed the report"
    kml models rollback iris --reason "latency regression"
    kml models deployments iris
    kml models rollback-deployment iris --reason "errors after the rollout"
    kml models undeploy iris --reason "retired"
    kml models policy iris --require-approval

Every command talks to a Model Registry at ``--registry-url`` (or ``KML_REGISTRY_URL``) with the token from
``KML_REGISTRY_TOKEN`` or ``--token-file``, or opens an embedded registry on a SQLite file with ``--db``. Tables
for people, ``--json`` for scripts. The lifecycle itself (conventions, audit trail, concurrency) is implemented in
:mod:`kfp_model_lifecycle.lifecycle.core`, the code the components run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kfp_model_lifecycle.cli import deployments
from kfp_model_lifecycle.cli.output import print_json, render_table, short_value
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lifecycle import core as lc

__all__ = [
    "approve",
    "list_models",
    "model_history",
    "open_registry",
    "promote",
    "repair",
    "rollback",
    "search_models",
    "set_policy",
    "show_model",
    "translate_search_query",
]

TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the name of the variable, not a token
URL_ENV = "KML_REGISTRY_URL"

# Version properties that are lineage rather than metrics (register_model's conventions).
_LINEAGE_KEYS = ("code_version", "training_image")
_LINEAGE_PREFIXES = ("kfp_", "dataset_", "model_meta_")


# ---------------------------------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_registry(
    registry_url: str = "",
    *,
    token: str = "",
    token_file: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    db: str = "",
) -> Iterator[dict[str, Any]]:
    """Connect to a Model Registry (remote, or an embedded one on a SQLite file) for the duration of a block.

    Args:
        registry_url: Base URL with scheme and port; "" means ``KML_REGISTRY_URL``.
        token: Bearer token ("" means ``KML_REGISTRY_TOKEN`` or ``token_file``; never logged).
        token_file: File holding the token.
        verify_tls: Verify the server certificate (https).
        ca_bundle_path: PEM bundle of CAs to trust (https).
        db: Instead of a URL: serve this SQLite file with the embedded registry (in this process) while the block
            runs. Do not use it while a ``kml registry serve`` on the same file is writing heavily.

    Yields:
        A connection for the functions of this module and of the lifecycle module.

    Raises:
        ValueError: When both ``db`` and ``registry_url`` are given, or neither (and no ``KML_REGISTRY_URL``).
        FileNotFoundError: When ``token_file`` cannot be read.
    """
    env = dict(os.environ)
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise FileNotFoundError(f"--token-file {token_file!r} cannot be read ({exc.strerror})") from None
    if token:
        env[TOKEN_ENV] = token
    with contextlib.ExitStack() as stack:
        if db:
            if registry_url:
                raise ValueError("give either --db (an embedded registry on a SQLite file) or --registry-url, not both")
            from kfp_model_lifecycle.local.registry import EmbeddedRegistry

            embedded = stack.enter_context(EmbeddedRegistry(db, token=token or None))
            registry_url = embedded.url
        elif not (registry_url or env.get(URL_ENV, "").strip()):
            raise ValueError(
                "no Model Registry given: pass --registry-url URL (e.g. http://127.0.0.1:8080 for `kml registry"
                " serve`, or the cluster's registry service), set KML_REGISTRY_URL, or use --db FILE for an embedded"
                " registry on a SQLite file"
            )
        conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
        stack.callback(conn.close)
        yield conn


# ---------------------------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------------------------


def _wire(obj: Any) -> dict[str, Any]:
    """An entity of the generated client in wire form, with the timestamps its ``to_json`` leaves out."""
    data = json.loads(obj.to_json())
    for attr, key in (
        ("create_time_since_epoch", "createTimeSinceEpoch"),
        ("last_update_time_since_epoch", "lastUpdateTimeSinceEpoch"),
    ):
        value = getattr(obj, attr, None)
        if value is not None:
            data[key] = str(value)
    return data


async def _timed(call: Any) -> dict[str, Any]:
    """Await a get or list call of the generated client; return wire form including timestamps."""
    result = await call
    items = getattr(result, "items", None)
    if isinstance(items, list):
        return {"items": [_wire(i) for i in items], "nextPageToken": getattr(result, "next_page_token", "") or ""}
    return _wire(result)


def _all_versions(conn: RegistryConnection, filter_query: str | None = None) -> list[dict[str, Any]]:
    return conn.list_all(
        "list model versions" + (f" matching {filter_query!r}" if filter_query else ""),
        lambda api, token: _timed(
            api.get_model_versions(filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token)
        ),
    )


def _all_models(conn: RegistryConnection, filter_query: str | None = None) -> list[dict[str, Any]]:
    return conn.list_all(
        "list registered models" + (f" matching {filter_query!r}" if filter_query else ""),
        lambda api, token: _timed(
            api.get_registered_models(filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token)
        ),
    )


def _versions_of(conn: RegistryConnection, model: Mapping[str, Any], filter_query: str | None = None) -> list[dict]:
    model_id = str(model["id"])
    return conn.list_all(
        f"list versions of {model.get('name')!r}" + (f" matching {filter_query!r}" if filter_query else ""),
        lambda api, token: _timed(
            api.get_registered_model_versions(
                model_id, filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token
            )
        ),
    )


def _timed_get(conn: RegistryConnection, kind: str, entity_id: str) -> dict[str, Any]:
    if kind == "model":
        found = conn.call(f"get registered model {entity_id}", lambda api: _timed(api.get_registered_model(entity_id)))
    else:
        found = conn.call(f"get model version {entity_id}", lambda api: _timed(api.get_model_version(entity_id)))
    return found or {}


def _aliases_of_model(model: Mapping[str, Any]) -> dict[str, str]:
    props = lc.plain_properties(model)
    return {k[len("kml_alias_") :]: str(v) for k, v in sorted(props.items()) if k.startswith("kml_alias_")}


def _metrics(props: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: v
        for k, v in sorted(props.items())
        if isinstance(v, float)
        and not k.startswith(("kml_", "kml:", "hp_", *_LINEAGE_PREFIXES))
        and k not in _LINEAGE_KEYS
    }


def _version_row(
    model: Mapping[str, Any], version: Mapping[str, Any], aliases_by_version: Mapping[str, list[str]]
) -> dict[str, Any]:
    conventions = lc.lifecycle_conventions()
    props = lc.plain_properties(version)
    vid = str(version.get("id"))
    return {
        "model": str(model.get("name") or ""),
        "model_id": str(model.get("id") or ""),
        "version": str(version.get("name") or ""),
        "version_id": vid,
        "reference": lc.format_model_reference(str(model.get("name") or ""), str(version.get("name") or "")),
        "stage": props.get(conventions["version_stage"]) or conventions["initial_stage"],
        "aliases": sorted(aliases_by_version.get(vid, [])),
        "approval": props.get(conventions["version_approval_status"]) or "",
        "state": str(version.get("state") or ""),
        "author": str(version.get("author") or ""),
        "created": _format_ms(version.get("createTimeSinceEpoch")),
        "metrics": _metrics(props),
    }


def _format_ms(value: Any) -> str:
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return ""


def list_models(conn: RegistryConnection) -> list[dict[str, Any]]:
    """All registered models with their lifecycle at a glance.

    Args:
        conn: From :func:`open_registry`.

    Returns:
        One dict per model: ``name``, ``id``, ``state``, ``owner``, ``versions`` (count), ``production`` (version
        name or ""), ``aliases`` (alias -> version name), ``requires_approval``, ``latest`` (newest version name)
        and ``updated``.
    """
    models = _all_models(conn)
    versions = _all_versions(conn)
    by_model: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for version in versions:
        by_model.setdefault(str(version.get("registeredModelId")), []).append(version)
        names[str(version.get("id"))] = str(version.get("name") or "")
    rows = []
    for model in sorted(models, key=lambda m: str(m.get("name") or "")):
        props = lc.plain_properties(model)
        own = by_model.get(str(model["id"]), [])
        production = str(props.get(lc.lifecycle_conventions()["model_production_version_id"]) or "")
        try:
            policy = lc.lifecycle_policy(model)
        except ValueError:
            policy = {"requires_approval": False}
        rows.append(
            {
                "name": str(model.get("name") or ""),
                "id": str(model["id"]),
                "state": str(model.get("state") or ""),
                "owner": str(model.get("owner") or ""),
                "versions": len(own),
                "production": names.get(production, production),
                "aliases": {a: names.get(v, v) for a, v in _aliases_of_model(model).items()},
                "requires_approval": bool(policy["requires_approval"]),
                "latest": str(max(own, key=lambda v: int(v["id"])).get("name") or "") if own else "",
                "updated": _format_ms(model.get("lastUpdateTimeSinceEpoch")),
            }
        )
    return rows


_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<quoted>`(?:[^`\\]|\\.)+`(?:\.[A-Za-z_]+)?)"""
    r"""|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<word>[^\s"'`()<>=!,]+))""",
)


def _tokens(query: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(query, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read the search query at {query[pos : pos + 20]!r}: check quotes and operators")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"').replace("\\'", "'")


def translate_search_query(query: str) -> str:
    """Turn a search with lifecycle helpers into a registry ``filterQuery`` on model versions.

    Helpers: ``stage = "production"`` (``=``, ``!=``, ``IN``) -> ``kml_stage``; ``approval = "approved"`` ->
    ``kml_approval_status``; ``alias = "champion"`` (``=`` or ``IN``) -> the alias label ``kml:@champion``.
    Everything else is passed to the registry unchanged (e.g. ``accuracy > 0.9``, ``name LIKE "1.%"``,
    ``author = "alice"``, ``kfp_run_id = "..."``).

    Args:
        query: e.g. ``accuracy > 0.9 AND stage = "production"``.

    Returns:
        The filterQuery, e.g. ``accuracy > 0.9 AND kml_stage = "production"``.

    Raises:
        ValueError: For unsupported helper forms (the message says what works).
    """
    conventions = lc.lifecycle_conventions()
    tokens = _tokens(query)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        helper = text.lower() if kind == "word" else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        is_ref = nxt[0] == "op" or (nxt[0] == "word" and nxt[1].upper() in ("IN", "LIKE", "ILIKE"))
        if helper in ("stage", "approval") and is_ref:
            out.append(conventions["version_stage"] if helper == "stage" else conventions["version_approval_status"])
            i += 1
            continue
        if helper == "alias" and is_ref:
            op = nxt[1].upper()
            if op == "=" and i + 2 < len(tokens) and tokens[i + 2][0] == "string":
                alias = lc.check_alias_name(_unquote(tokens[i + 2][1]))
                out.append(f'`{conventions["label_alias"].format(alias=alias)}` = ""')
                i += 3
                continue
            if op == "IN" and i + 2 < len(tokens) and tokens[i + 2] == ("punct", "("):
                j, names = i + 3, []
                while j < len(tokens) and tokens[j] != ("punct", ")"):
                    if tokens[j][0] == "string":
                        names.append(lc.check_alias_name(_unquote(tokens[j][1])))
                    elif tokens[j] != ("punct", ","):
                        raise ValueError(f"alias IN (...) takes quoted alias names, not {tokens[j][1]!r}")
                    j += 1
                if not names:
                    raise ValueError("alias IN () names no alias")
                label = conventions["label_alias"]
                out.append("(" + " OR ".join(f'`{label.format(alias=a)}` = ""' for a in names) + ")")
                i = j + 1
                continue
            raise ValueError(
                'the alias helper supports alias = "NAME" and alias IN ("A", "B"); to find versions without an'
                " alias, list the model's aliases with `kml models show NAME`"
            )
        out.append(text)
        i += 1
    text = ""
    for piece in out:
        if not text or text.endswith("(") or piece in (")", ","):
            text += piece
        else:
            text += " " + piece
    return text


def search_models(
    conn: RegistryConnection, query: str = "", *, model: str = "", models_only: bool = False
) -> list[dict[str, Any]]:
    """Find model versions (or registered models) by criteria, with the registry's ``filterQuery``.

    Args:
        conn: From :func:`open_registry`.
        query: A filterQuery with lifecycle helpers (see :func:`translate_search_query`); "" matches everything.
        model: Only versions of this registered model.
        models_only: Search registered models instead of versions (the query applies to model properties, e.g.
            ``kml_requires_approval = true`` or ``name LIKE "iris%"``; no helpers).

    Returns:
        For versions: rows like :func:`list_models`'s per version (``model``, ``version``, ``version_id``,
        ``reference``, ``stage``, ``aliases``, ``approval``, ``state``, ``author``, ``created``, ``metrics``);
        for models: the rows of :func:`list_models` that match.
    """
    if models_only:
        wanted = {str(m["id"]) for m in _all_models(conn, query.strip() or None)}
        return [row for row in list_models(conn) if row["id"] in wanted]
    filter_query = translate_search_query(query) if query.strip() else None
    if model:
        found = lc.find_model_by_name(conn, model)
        versions = _versions_of(conn, found, filter_query)
        models = {str(found["id"]): found}
    else:
        versions = _all_versions(conn, filter_query)
        models = {str(m["id"]): m for m in _all_models(conn)}
    aliases_by_version: dict[str, list[str]] = {}
    for m in models.values():
        for alias, vid in _aliases_of_model(m).items():
            aliases_by_version.setdefault(vid, []).append(alias)
    rows = [
        _version_row(models.get(str(v.get("registeredModelId")), {"name": "?"}), v, aliases_by_version)
        for v in versions
    ]
    return sorted(rows, key=lambda r: (r["model"], int(r["version_id"] or 0)))


def show_model(conn: RegistryConnection, reference: str) -> dict[str, Any]:
    """Details of a registered model (``NAME``) or of one version (``NAME:VERSION``, ``NAME@ALIAS``...).

    Args:
        conn: From :func:`open_registry`.
        reference: ``NAME`` for the model overview; a version reference for the version.

    Returns:
        For a model (``kind: "model"``): ``model`` (name, id, state, owner, description, created, updated),
        ``policy``, ``production``, ``aliases``, ``versions`` (rows as in :func:`search_models`), ``recent_events``.
        For a version (``kind: "version"``): ``reference``, ``model``, ``version`` (name, id, state, author,
        description, created, updated), ``stage``, ``stage_time``, ``aliases``, ``approval``, ``metrics``,
        ``hyperparameters``, ``lineage`` (run, datasets, code, artifact source), ``artifact`` (uri, format,
        storage), ``labels``, ``properties`` (the rest), ``history`` (events about this version).
    """
    conventions = lc.lifecycle_conventions()
    ref = lc.parse_model_reference(reference)
    if ref["kind"] == "default" and "@" not in reference:
        model = lc.repair_lifecycle_view_if_stale(conn, lc.find_model_by_name(conn, ref["model"]))
        model = _timed_get(conn, "model", str(model["id"])) or model
        versions = _versions_of(conn, model)
        aliases = _aliases_of_model(model)
        names = {str(v["id"]): str(v.get("name") or "") for v in versions}
        by_version: dict[str, list[str]] = {}
        for alias, vid in aliases.items():
            by_version.setdefault(vid, []).append(alias)
        props = lc.plain_properties(model)
        production = str(props.get(conventions["model_production_version_id"]) or "")
        events = lc.read_lifecycle_events(conn, str(model["id"]))
        return {
            "kind": "model",
            "model": {
                "name": str(model.get("name") or ""),
                "id": str(model["id"]),
                "state": str(model.get("state") or ""),
                "owner": str(model.get("owner") or ""),
                "description": str(model.get("description") or ""),
                "created": _format_ms(model.get("createTimeSinceEpoch")),
                "updated": _format_ms(model.get("lastUpdateTimeSinceEpoch")),
            },
            "policy": _policy_summary(lc.lifecycle_policy(model)),
            "production": names.get(production, production),
            "aliases": {a: names.get(v, v) for a, v in aliases.items()},
            "versions": [_version_row(model, v, by_version) for v in versions],
            "events": len(events),
            "recent_events": [_event_row(e) for e in events[-10:]],
        }
    resolved = lc.resolve_model_reference(conn, reference)
    model, version, artifact = resolved.model, resolved.version, resolved.artifact
    version = _timed_get(conn, "version", str(version["id"])) or version
    props = lc.plain_properties(version)
    aliases = sorted(a for a, v in _aliases_of_model(model).items() if v == str(version["id"]))
    approval = None
    if props.get(conventions["version_approval_status"]):
        approval = {
            "status": props.get(conventions["version_approval_status"]),
            "by": props.get(conventions["version_approval_by"]) or "",
            "comment": props.get(conventions["version_approval_comment"]) or "",
            "time": props.get(conventions["version_approval_time"]) or "",
        }
    metrics = _metrics(props)
    hyper = {k[3:]: v for k, v in props.items() if k.startswith("hp_")}
    lineage = {k: v for k, v in props.items() if k.startswith(_LINEAGE_PREFIXES) or k in _LINEAGE_KEYS}
    labels = sorted(k for k, v in props.items() if v == "" and not lc.is_lifecycle_key(k))
    used = set(metrics) | {f"hp_{k}" for k in hyper} | set(lineage) | set(labels)
    rest = {k: v for k, v in sorted(props.items()) if k not in used and not lc.is_lifecycle_key(k)}
    art = {}
    if artifact:
        for key in (
            "uri",
            "modelFormatName",
            "modelFormatVersion",
            "storageKey",
            "storagePath",
            "serviceAccountName",
            "modelSourceKind",
            "modelSourceClass",
            "modelSourceGroup",
            "modelSourceId",
            "modelSourceName",
        ):
            if artifact.get(key):
                art[key] = artifact[key]
    name = str(model.get("name") or "")
    vname = str(version.get("name") or "")
    events = lc.read_lifecycle_events(conn, str(model["id"]))
    mine = [
        e
        for e in events
        if e.get("version_id") == str(version["id"]) or e.get("demoted_version_id") == str(version["id"])
    ]
    return {
        "kind": "version",
        "reference": resolved.reference,
        "resolved_by": resolved.selector,
        "model": name,
        "model_id": str(model["id"]),
        "version": {
            "name": vname,
            "id": str(version["id"]),
            "state": str(version.get("state") or ""),
            "author": str(version.get("author") or ""),
            "description": str(version.get("description") or ""),
            "created": _format_ms(version.get("createTimeSinceEpoch")),
            "updated": _format_ms(version.get("lastUpdateTimeSinceEpoch")),
        },
        "stage": props.get(conventions["version_stage"]) or conventions["initial_stage"],
        "stage_time": props.get(conventions["version_stage_time"]) or "",
        "aliases": aliases,
        "approval": approval,
        "metrics": metrics,
        "hyperparameters": dict(sorted(hyper.items())),
        "lineage": dict(sorted(lineage.items())),
        "artifact": art,
        "labels": labels,
        "properties": rest,
        "history": [_event_row(e) for e in mine],
    }


def _policy_summary(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "requires_approval": bool(policy["requires_approval"]),
        "demote_to": policy["demote_to"],
        "allowed_transitions": policy["allowed_transitions"],
        "custom_transitions": bool(policy.get("custom_transitions")),
    }


def _event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        "seq": int(event.get("seq") or 0),
        "time": event.get("time") or "",
        "type": event.get("type") or "",
        "version": event.get("version") or "",
        "version_id": event.get("version_id") or "",
        "from": event.get("from") or "",
        "to": event.get("to") or "",
        "actor": event.get("actor") or "",
        "reason": event.get("reason") or "",
        "evidence": dict(event.get("evidence") or {}),
        "description": lc.describe_lifecycle_event({**dict(event), "seq": None, "actor": "", "reason": ""}).rsplit(
            " by ", 1
        )[0],
    }
    for key in ("alias", "demoted_version", "demoted_to", "rollback", "refusal", "requested", "conflicts"):
        if event.get(key):
            row[key] = event[key]
    return row


def model_history(
    conn: RegistryConnection, model_name: str, *, version: str = "", event_type: str = ""
) -> list[dict[str, Any]]:
    """The model's audit trail, oldest first.

    Args:
        conn: From :func:`open_registry`.
        model_name: The registered model.
        version: Only events about this version name.
        event_type: Only ``stage``, ``alias``, ``approval``, ``rejection``, ``policy`` or ``deployment`` events.

    Returns:
        One dict per event: ``seq``, ``time``, ``type``, ``version``, ``version_id``, ``from``, ``to``, ``actor``,
        ``reason``, ``evidence``, ``description`` and type-specific fields.
    """
    return [
        _event_row(e) for e in lc.lifecycle_history(conn, model_name, version=version, event_type=event_type)["events"]
    ]


# ---------------------------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------------------------


def _evidence(evidence_uri: str = "", evidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = dict(evidence or {})
    if evidence_uri:
        data["report_uri"] = evidence_uri
    return data


def promote(
    conn: RegistryConnection,
    reference: str,
    *,
    stage: str = "",
    aliases: Iterable[str] = (),
    remove_aliases: Iterable[str] = (),
    reason: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
    require_approval: bool = False,
) -> dict[str, Any]:
    """Move a version to a stage and/or set aliases (see ``promote_model_version`` in the lifecycle module).

    Args:
        conn: From :func:`open_registry`.
        reference: ``NAME:VERSION``, ``NAME@ALIAS``...
        stage: Target stage ("" to leave it).
        aliases: Aliases to point at the version.
        remove_aliases: Aliases to remove from the model.
        reason: Why.
        evidence_uri: Comparison report or other evidence URI.
        evidence: More evidence.
        actor: Who (default ``user:<login name>``).
        dry_run: Plan only.
        demote_to: Stage for the displaced production version.
        require_approval: Require approval for this promotion.

    Returns:
        The promotion result (``new_holder``, ``previous_holder``, ``stage``, ``events``...).
    """
    return lc.promote_model_version(
        conn,
        reference,
        stage=stage,
        aliases=list(aliases),
        remove_aliases=list(remove_aliases),
        reason=reason,
        evidence=_evidence(evidence_uri, evidence),
        actor=actor,
        dry_run=dry_run,
        demote_to=demote_to,
        require_approval=require_approval,
    )


def rollback(
    conn: RegistryConnection,
    model_name: str,
    *,
    reason: str = "",
    evidence_uri: str = "",
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
) -> dict[str, Any]:
    """Re-promote the previous production version of a model from its audit trail, in one step.

    Args:
        conn: From :func:`open_registry`.
        model_name: The registered model.
        reason: Why.
        evidence_uri: Incident or report URI.
        actor: Who.
        dry_run: Plan only.
        demote_to: Stage for the version rolled back from (default the model's, else ``archived``).

    Returns:
        The promotion result; ``previous_holder`` is the version rolled back from.
    """
    return lc.promote_model_version(
        conn,
        model_name,
        rollback=True,
        reason=reason,
        evidence=_evidence(evidence_uri),
        actor=actor,
        dry_run=dry_run,
        demote_to=demote_to,
    )


def approve(
    conn: RegistryConnection,
    reference: str,
    *,
    status: str = "approved",
    comment: str = "",
    approver: str = "",
    evidence_uri: str = "",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Record an approval decision for a version (see ``approve_model_version`` in the lifecycle module).

    Args:
        conn: From :func:`open_registry`.
        reference: The version.
        status: ``approved``, ``rejected`` or ``pending``.
        comment: Why (required for ``rejected``).
        approver: Who (default ``user:<login name>``).
        evidence_uri: Review or report URI.
        dry_run: Check only.

    Returns:
        The approval result (``status``, ``previous_status``, ``event_seq``...).
    """
    return lc.approve_model_version(
        conn,
        reference,
        status=status,
        approver=approver,
        comment=comment,
        evidence=_evidence(evidence_uri),
        dry_run=dry_run,
    )


def set_policy(
    conn: RegistryConnection,
    model_name: str,
    *,
    require_approval: bool | None = None,
    allowed_transitions: Any = None,
    demote_to: str | None = None,
    actor: str = "",
    reason: str = "",
) -> dict[str, Any]:
    """Set a model's lifecycle policy (see ``set_lifecycle_policy`` in the lifecycle module).

    Args:
        conn: From :func:`open_registry`.
        model_name: The registered model.
        require_approval: Whether production needs an approved version (None: unchanged).
        allowed_transitions: JSON/dict of stage -> stages, "" for the default (None: unchanged).
        demote_to: Stage for displaced production versions, "" for ``archived`` (None: unchanged).
        actor: Who.
        reason: Why.

    Returns:
        ``model``, ``policy``, ``previous``, ``changed``, ``event_seq``.
    """
    return lc.set_lifecycle_policy(
        conn,
        model_name,
        require_approval=require_approval,
        allowed_transitions=allowed_transitions,
        demote_to=demote_to,
        actor=actor,
        reason=reason,
    )


def repair(conn: RegistryConnection, model_name: str) -> dict[str, Any]:
    """Rewrite a model's lifecycle properties and labels from its audit trail.

    Args:
        conn: From :func:`open_registry`.
        model_name: The registered model.

    Returns:
        ``model``, ``events`` (count), ``patched_versions`` (ids rewritten).
    """
    model = lc.find_model_by_name(conn, model_name)
    result = lc.sync_lifecycle_view(conn, model)
    return {"model": model_name, "events": len(result["events"]), "patched_versions": result["patched"]}


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------


def _print_mapping(title: str, data: Mapping[str, Any]) -> None:
    if not data:
        return
    print(f"\n{title}:")
    width = max(len(str(k)) for k in data)
    for key, value in data.items():
        print(f"  {str(key).ljust(width)}  {short_value(value) if not isinstance(value, dict) else json.dumps(value)}")


_VERSION_COLUMNS = [
    ("reference", "version"),
    ("version_id", "id"),
    ("stage", "stage"),
    ("aliases", "aliases"),
    ("approval", "approval"),
    ("state", "state"),
    ("metrics", "metrics"),
]
_EVENT_COLUMNS = [
    ("seq", "#"),
    ("time", "time (UTC)"),
    ("type", "type"),
    ("description", "change"),
    ("actor", "by"),
    ("reason", "reason"),
]


def _print_show(data: Mapping[str, Any]) -> None:
    if data["kind"] == "model":
        m = data["model"]
        print(f"Model {m['name']} (id {m['id']}, {m['state']})")
        if m["description"]:
            print(f"  {m['description']}")
        policy = data["policy"]
        transitions = "custom" if policy["custom_transitions"] else "default"
        print(f"  owner: {m['owner'] or '-'}   created: {m['created']}   updated: {m['updated']}")
        print(f"  production: {data['production'] or '-'}")
        print(f"  aliases: {', '.join(f'@{a} -> {v}' for a, v in data['aliases'].items()) or '-'}")
        print(
            f"  policy: requires approval: {'yes' if policy['requires_approval'] else 'no'};"
            f" demote to: {policy['demote_to']}; transitions: {transitions}"
        )
        print("\nVersions:")
        print(render_table(data["versions"], _VERSION_COLUMNS))
        print(f"\nRecent history ({data['events']} events; `kml models history {m['name']}` shows all):")
        print(render_table(data["recent_events"], _EVENT_COLUMNS))
        return
    v = data["version"]
    print(f"{data['reference']} (version id {v['id']}, {v['state']}; resolved by {data['resolved_by']})")
    if v["description"]:
        print(f"  {v['description']}")
    print(f"  author: {v['author'] or '-'}   created: {v['created']}   updated: {v['updated']}")
    print(f"  stage: {data['stage']}" + (f" (since {data['stage_time']})" if data["stage_time"] else ""))
    print(f"  aliases: {', '.join('@' + a for a in data['aliases']) or '-'}")
    approval = data["approval"]
    if approval:
        extra = f": {approval['comment']}" if approval["comment"] else ""
        print(f"  approval: {approval['status']} by {approval['by']} at {approval['time']}{extra}")
    else:
        print("  approval: -")
    if data["labels"]:
        print(f"  labels: {', '.join(data['labels'])}")
    _print_mapping("Metrics", data["metrics"])
    _print_mapping("Hyperparameters", data["hyperparameters"])
    _print_mapping("Lineage", data["lineage"])
    _print_mapping("Model artifact", data["artifact"])
    _print_mapping("Other properties", data["properties"])
    print("\nHistory:")
    print(render_table(data["history"], _EVENT_COLUMNS))


def _print_change(result: Mapping[str, Any]) -> None:
    prefix = "(dry run) would change" if result.get("dry_run") else "changed"
    if not result.get("changed"):
        if "status" in result:
            print(f"{result['reference']}: approval is already {result['status']} (nothing recorded)")
        else:
            print(f"{result['reference']}: already so (stage {result.get('stage')}; nothing recorded)")
        return
    print(f"{prefix} {result['reference']}:")
    for line in result.get("summary") or []:
        print(f"  {line}")
    if result.get("previous_holder"):
        print(f"previous holder: {result['previous_holder']}")


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------


def run_models_command(args: argparse.Namespace) -> int:
    """Run a ``kml models`` command: open the registry, run the command, report errors in one line.

    Args:
        args: The parsed arguments (``models_command`` names the command).

    Returns:
        The exit code.
    """
    action = _actions()[args.models_command]
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        for name in ("model-registry", "kfp_model_lifecycle", "kfp_model_lifecycle.local.registry", "uvicorn"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with open_registry(
            args.registry_url,
            token_file=args.token_file,
            verify_tls=not args.insecure,
            ca_bundle_path=args.ca_bundle,
            db=args.db,
        ) as conn:
            return int(action(conn, args) or 0)
    except BrokenPipeError:  # `kml models ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (LookupError, ValueError, PermissionError, ConnectionError, RuntimeError, FileNotFoundError) as exc:
        message = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1


def _cmd_list(conn: RegistryConnection, args: argparse.Namespace) -> int:
    rows = list_models(conn)
    if args.json:
        print_json(rows)
        return 0
    columns = [
        ("name", "model"),
        ("versions", "versions"),
        ("production", "production"),
        ("aliases", "aliases"),
        ("requires_approval", "approval required"),
        ("latest", "latest"),
        ("updated", "updated (UTC)"),
    ]
    print(render_table(rows, columns))
    return 0


def _cmd_search(conn: RegistryConnection, args: argparse.Namespace) -> int:
    rows = search_models(conn, args.query, model=args.model, models_only=args.models)
    if args.json:
        print_json(rows)
        return 0
    if args.models:
        print(render_table(rows, [("name", "model"), ("versions", "versions"), ("production", "production")]))
    else:
        print(render_table(rows, _VERSION_COLUMNS))
    return 0


def _cmd_show(conn: RegistryConnection, args: argparse.Namespace) -> int:
    data = show_model(conn, args.reference)
    if args.json:
        print_json(data)
    else:
        _print_show(data)
    return 0


def _cmd_history(conn: RegistryConnection, args: argparse.Namespace) -> int:
    rows = model_history(conn, args.name, version=args.version, event_type=args.type)
    if args.json:
        print_json(rows)
    else:
        print(render_table(rows, _EVENT_COLUMNS, max_width=80))
    return 0


def _cmd_promote(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = promote(
        conn,
        args.reference,
        stage=args.stage,
        aliases=args.alias,
        remove_aliases=args.remove_alias,
        reason=args.reason,
        evidence_uri=args.evidence_uri,
        actor=args.actor,
        dry_run=args.dry_run,
        demote_to=args.demote_to,
        require_approval=args.require_approval,
    )
    print_json(result) if args.json else _print_change(result)
    return 0


def _cmd_rollback(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = rollback(
        conn,
        args.name,
        reason=args.reason,
        evidence_uri=args.evidence_uri,
        actor=args.actor,
        dry_run=args.dry_run,
        demote_to=args.demote_to,
    )
    print_json(result) if args.json else _print_change(result)
    return 0


def _cmd_approve(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = approve(
        conn,
        args.reference,
        status=args.status,
        comment=args.comment,
        approver=args.approver,
        evidence_uri=args.evidence_uri,
        dry_run=args.dry_run,
    )
    print_json(result) if args.json else _print_change(result)
    return 0


def _cmd_policy(conn: RegistryConnection, args: argparse.Namespace) -> int:
    transitions = args.transitions
    if transitions is not None and transitions.strip().lower() == "default":
        transitions = ""
    if args.require_approval is None and transitions is None and args.demote_to is None:
        model = lc.find_model_by_name(conn, args.name)
        data = {"model": args.name, "policy": _policy_summary(lc.lifecycle_policy(model))}
    else:
        result = set_policy(
            conn,
            args.name,
            require_approval=args.require_approval,
            allowed_transitions=transitions,
            demote_to=args.demote_to,
            actor=args.actor,
            reason=args.reason,
        )
        data = {
            "model": args.name,
            "policy": _policy_summary(result["policy"]),
            "changed": result["changed"],
            "event_seq": result["event_seq"],
        }
    if args.json:
        print_json(data)
        return 0
    policy = data["policy"]
    if "changed" in data:
        state = f"changed (event #{data['event_seq']})" if data["changed"] else "unchanged"
        print(f"{args.name}: policy {state}")
    print(f"requires approval before production: {'yes' if policy['requires_approval'] else 'no'}")
    print(f"displaced production versions go to: {policy['demote_to']}")
    print(f"allowed transitions ({'custom' if policy['custom_transitions'] else 'default'}):")
    for source, targets in policy["allowed_transitions"].items():
        print(f"  {source} -> {', '.join(targets) or '(none)'}")
    return 0


def _cmd_repair(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = repair(conn, args.name)
    if args.json:
        print_json(result)
    else:
        patched = result["patched_versions"]
        print(
            f"{args.name}: {result['events']} events; "
            + (f"rewrote versions {', '.join(patched)}" if patched else "the view matched the audit trail")
        )
    return 0


def _actions() -> dict[str, Callable[[RegistryConnection, argparse.Namespace], int]]:
    return {
        "list": _cmd_list,
        "search": _cmd_search,
        "show": _cmd_show,
        "history": _cmd_history,
        "promote": _cmd_promote,
        "rollback": _cmd_rollback,
        "approve": _cmd_approve,
        "policy": _cmd_policy,
        "repair": _cmd_repair,
        "deployments": deployments.cmd_deployments,
        "rollback-deployment": deployments.cmd_rollback_deployment,
        "undeploy": deployments.cmd_undeploy,
    }
