r"""``kml doctor``: is the installation usable? One line per check with ✓ or ✗, the fix under each cross.

Command line (the options are declared in :mod:`kfp_model_lifecycle.cli.check_parsers`)::

    kml doctor --registry-url http://127.0.0.1:8080 --kubeconfig ~/.kube/config --namespace kubeflow-user \\
        --token-secret model-registry-token
    kml doctor --no-kubernetes --json

The checks are the package's own (:mod:`kfp_model_lifecycle.doctor`, which the ``verify_installation`` component
runs too), imported when the command runs so that ``kml`` starts fast. Exit 0 only when every required check
passed; 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

from kfp_model_lifecycle.cli.output import print_json
from kfp_model_lifecycle.cli.registry_access import TOKEN_ENV, registry_env

__all__ = ["run_doctor_command", "supports_unicode"]

MIN_SECRET_CHARS = 4


def supports_unicode(stream: TextIO) -> bool:
    """Whether ✓ and ✗ can be written to ``stream`` (its encoding is a UTF).

    Args:
        stream: e.g. ``sys.stdout``.

    Returns:
        True for UTF-8/16/32 streams.
    """
    encoding = (getattr(stream, "encoding", "") or "").lower().replace("-", "").replace("_", "")
    return encoding.startswith("utf")


def run_doctor_command(args: argparse.Namespace) -> int:
    """Run ``kml doctor``.

    Args:
        args: The parsed arguments.

    Returns:
        0 when every required check passed, else 1.
    """
    from kfp_model_lifecycle.doctor import DoctorSettings, check_installation
    from kfp_model_lifecycle.doctor.kubernetes_checks import DEPLOY_VERBS

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        env = registry_env(token_file=args.token_file)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    settings = DoctorSettings(
        registry_url=args.registry_url,
        verify_tls=not args.insecure,
        ca_bundle_path=args.ca_bundle,
        write_probe=not args.no_write_probe,
        kubernetes=not args.no_kubernetes,
        kubeconfig_path=args.kubeconfig,
        kube_context=args.context,
        namespace=args.namespace,
        token_secret_name=args.token_secret,
        token_secret_key=args.token_secret_key or "token",
        verbs=tuple(dict.fromkeys(args.verb or DEPLOY_VERBS)),
        env=env,
    )
    checklist = check_installation(settings)
    token = env.get(TOKEN_ENV, "")
    if args.json:
        print_json(checklist.to_dict())
    else:
        for line in checklist.text_lines(unicode=supports_unicode(sys.stdout)):
            print(line.replace(token, "***") if len(token) >= MIN_SECRET_CHARS else line)
    return 0 if checklist.ok else 1
