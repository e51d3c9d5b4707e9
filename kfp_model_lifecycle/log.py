"""The package's logger, and the log set-up every component body runs its job in."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

LOGGER_NAME = "kfp_model_lifecycle"

logger = logging.getLogger(LOGGER_NAME)


@contextlib.contextmanager
def component_log(component_name: str) -> Iterator[logging.Logger]:
    """Show the package's log lines in the component's log as ``[name] LEVEL message``.

    The ``kfp_model_lifecycle`` logger writes to stdout at INFO with the component's name as prefix, and is
    restored afterwards (also when the job fails).

    Args:
        component_name: Prefix of the log lines, e.g. ``register_model``.

    Yields:
        The logger.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(f"[{component_name}] %(levelname)s %(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
