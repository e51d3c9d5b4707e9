"""Which way is better for a ranking metric: as the caller says, else by its name (loss, error, rmse: lower).

The ``metrics`` input of a leaderboard names the metrics to rank on, in order, and optionally their direction:

* a list of names, ``["accuracy", "-log_loss"]``: a leading ``-`` means lower is better, ``+`` higher;
* a dict, ``{"accuracy": "max", "log_loss": "min"}`` (also ``higher``/``lower``, true/false, or null for the
  default);
* a list of objects like the gates', ``[{"metric": "log_loss", "higher_is_better": false}]``;
* any of those as a JSON string, or a comma-separated string ``"accuracy,-log_loss"``.

Without a direction a metric is higher-is-better unless its name says otherwise (:func:`default_higher_is_better`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.errors import InvalidInputError

LOWER_IS_BETTER_WORDS = frozenset(
    {"loss", "logloss", "error", "rmse", "mse", "mae", "mape", "rmsle", "latency", "perplexity"}
)
"""A metric whose name contains one of these words (``val_loss``, ``error_rate``, ``latency_ms``) is lower-is-better."""

METRICS_EXAMPLE = '["accuracy", "-log_loss"]'
HIGHER_WORDS = frozenset({"max", "higher", "high", "higher_is_better", "desc", "+"})
LOWER_WORDS = frozenset({"min", "lower", "low", "lower_is_better", "asc", "-"})
DIRECTION_KEYS = ("higher_is_better", "greater_is_better")


@dataclass(frozen=True)
class RankMetric:
    """A metric the leaderboard ranks on, with its direction.

    Attributes:
        name: The metric (customProperty) name.
        higher_is_better: Its direction.
        explicit: Whether the caller gave the direction (else it came from the name).
    """

    name: str
    higher_is_better: bool = True
    explicit: bool = False

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better) or ``↓``."""
        return "↑" if self.higher_is_better else "↓"

    def to_dict(self) -> dict[str, Any]:
        """The metric as JSON-able data.

        Returns:
            ``name``, ``higher_is_better`` and ``explicit``.
        """
        return {"name": self.name, "higher_is_better": self.higher_is_better, "explicit": self.explicit}


def default_higher_is_better(name: str) -> bool:
    """A metric's direction by its name: lower is better for losses, errors, rmse/mse/mae, latency...

    Args:
        name: The metric name.

    Returns:
        False when a word of the name is in :data:`LOWER_IS_BETTER_WORDS`, else True.
    """
    words = re.split(r"[^a-z0-9]+", name.lower())
    return not any(word in LOWER_IS_BETTER_WORDS for word in words)


def parse_rank_metrics(metrics: Any) -> tuple[RankMetric, ...]:
    """The metrics to rank on, in order, with their directions (see the module docstring for the forms).

    Args:
        metrics: The ``metrics`` input; None or empty gives no metric.

    Returns:
        The metrics.

    Raises:
        InvalidInputError: For an item that is not a metric, an unknown direction, or a metric named twice.
    """
    parsed = [_parse_item(i, item) for i, item in enumerate(_metric_items(metrics))]
    seen: set[str] = set()
    for metric in parsed:
        if metric.name in seen:
            raise InvalidInputError(f"metrics: {metric.name!r} is named twice: rank on each metric once")
        seen.add(metric.name)
    return tuple(parsed)


def _metric_items(metrics: Any) -> list[Any]:
    """The items of any accepted form: names, ``(name, direction)`` pairs or objects."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        text = metrics.strip()
        if text.startswith(("[", "{")):
            try:
                metrics = json.loads(text)
            except ValueError as exc:
                raise InvalidInputError(f"metrics is not valid JSON ({exc}): write it like {METRICS_EXAMPLE}") from None
        else:
            return [part for part in (p.strip() for p in text.split(",")) if part]
    if isinstance(metrics, Mapping):
        return [(name, spec) for name, spec in metrics.items()]
    if isinstance(metrics, Iterable):
        return list(metrics)
    raise InvalidInputError(f"metrics must be a list of metric names, got {metrics!r}: e.g. {METRICS_EXAMPLE}")


def _parse_item(i: int, item: Any) -> RankMetric:
    """One metric: ``"name"``, ``"-name"``, ``(name, direction)`` or ``{"metric": name, "higher_is_better": b}``."""
    if isinstance(item, str):
        text = item.strip()
        if text[:1] in ("-", "+"):
            return _metric(i, text[1:], text[0] == "+")
        return _metric(i, text, None)
    if isinstance(item, tuple) and len(item) == 2:
        return _metric(i, item[0], _direction(f"metrics[{item[0]!r}]", item[1]))
    if isinstance(item, Mapping):
        unknown = [key for key in item if key not in ("metric", *DIRECTION_KEYS)]
        if unknown:
            raise InvalidInputError(
                f"metrics[{i}]: unknown key {unknown[0]!r}; allowed keys: metric, higher_is_better (or"
                " greater_is_better)"
            )
        key = next((k for k in DIRECTION_KEYS if k in item), "")
        return _metric(i, item.get("metric"), _direction(f"metrics[{i}]", item.get(key)) if key else None)
    raise InvalidInputError(f"metrics[{i}] must be a metric name like 'accuracy' or '-log_loss', got {item!r}")


def _metric(i: int, name: Any, higher: bool | None) -> RankMetric:
    """The metric with the direction given, or (None) the one its name implies."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"metrics[{i}]: a metric name is required, e.g. 'accuracy' or '-log_loss'")
    name = name.strip()
    if higher is None:
        return RankMetric(name, default_higher_is_better(name))
    return RankMetric(name, higher, explicit=True)


def _direction(where: str, spec: Any) -> bool | None:
    """A direction given as a bool, a word (``max``/``min``, ``higher``/``lower``) or None (the default)."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, bool):
        return spec
    word = str(spec).strip().lower()
    if word in HIGHER_WORDS:
        return True
    if word in LOWER_WORDS:
        return False
    raise InvalidInputError(f"{where}: direction {spec!r} is not one of true/false, 'max'/'min' or 'higher'/'lower'")
