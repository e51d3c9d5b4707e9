"""Per-example predictions: finding the CSV file, reading it, and pairing two models' rows example by example."""

from __future__ import annotations

import csv
import glob
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.errors import InvalidInputError

OBJECT_STORE_MOUNTS = (("gs://", "/gcs/"), ("s3://", "/s3/"), ("minio://", "/minio/"))
"""Where the KFP launcher mounts object-store URIs in the pod."""

PREDICTIONS_HEADER = "label,prediction[,score][,id]"


@dataclass(frozen=True)
class Predictions:
    """One model's per-example predictions, as read from its CSV file.

    Attributes:
        labels: The true labels, normalised (:func:`normalize_label`).
        predictions: The predicted labels, normalised.
        scores: Positive-class scores, or None without a ``score`` column.
        ids: Example ids, or None without an ``id`` (or ``example_id``) column.
    """

    labels: tuple[str, ...]
    predictions: tuple[str, ...]
    scores: tuple[float, ...] | None = None
    ids: tuple[str, ...] | None = None

    @property
    def rows(self) -> int:
        """The number of examples."""
        return len(self.labels)


@dataclass(frozen=True)
class PairedPredictions:
    """Two models' predictions on the same examples, in the same order.

    Attributes:
        labels: The true label of each example.
        candidate: The candidate's predictions.
        baseline: The baseline's predictions.
        candidate_scores: The candidate's scores, or None.
        baseline_scores: The baseline's scores, or None.
        note: How the rows were paired, e.g. ``paired by row: 143 examples``.
    """

    labels: tuple[str, ...]
    candidate: tuple[str, ...]
    baseline: tuple[str, ...]
    candidate_scores: tuple[float, ...] | None
    baseline_scores: tuple[float, ...] | None
    note: str

    @property
    def n(self) -> int:
        """The number of paired examples."""
        return len(self.labels)


def resolve_predictions_path(path_or_uri: str) -> str:
    """A readable local file for a predictions Dataset, or "" when it is not reachable from this pod.

    Understands local paths, ``file://`` URIs and the KFP launcher's local mounts of object-store URIs
    (``gs://b/k`` -> ``/gcs/b/k``, ``s3://`` -> ``/s3/``, ``minio://`` -> ``/minio/``). A directory is
    accepted when it holds exactly one ``*.csv`` file.

    Args:
        path_or_uri: A path or URI.

    Returns:
        The file path, or "".
    """
    for path in _local_paths((path_or_uri or "").strip()):
        if os.path.isfile(path):
            return path
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, "*.csv")))
            if len(found) == 1:
                return found[0]
    return ""


def _local_paths(text: str) -> list[str]:
    """Where a path or URI could be in this pod's file system."""
    if not text:
        return []
    if text.startswith("file://"):
        return [text[len("file://") :]]
    if "://" not in text:
        return [text]
    return [mount + text[len(prefix) :] for prefix, mount in OBJECT_STORE_MOUNTS if text.startswith(prefix)]


def normalize_label(value: str) -> str:
    """A class label in a comparable form: numbers by value (``1``, ``1.0`` -> ``1``), other text stripped.

    Args:
        value: The CSV cell.

    Returns:
        The normalised label; ``true``/``false`` become ``1``/``0``.
    """
    text = (value or "").strip()
    low = text.lower()
    if low in ("true", "false"):
        return "1" if low == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def read_predictions(path: str) -> Predictions:
    """Read a per-example predictions CSV: header ``label,prediction[,score][,id]`` (any column order).

    The example pipeline's ``evaluate_model`` writes ``label,prediction,score``. ``score`` is the positive
    class probability (needed for ``roc_auc``); an ``id`` (or ``example_id``) column lets two files be paired by
    example instead of by row.

    Args:
        path: The CSV file.

    Returns:
        The predictions.

    Raises:
        InvalidInputError: When a required column is missing or a score is not a number (names the row).
    """
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise InvalidInputError(
                f"predictions file {path} is empty: expected a header 'label,prediction,score'"
            ) from None
        missing = [c for c in ("label", "prediction") if c not in header]
        if missing:
            raise InvalidInputError(
                f"predictions file {path} has no column {missing[0]!r} (header: {','.join(header)}): write one row"
                f" per example with the columns {PREDICTIONS_HEADER}"
            )
        rows = [(line_no, row) for line_no, row in enumerate(reader, start=2) if any(cell.strip() for cell in row)]
    return _parse_rows(path, header, rows)


def _parse_rows(path: str, header: list[str], rows: Sequence[tuple[int, list[str]]]) -> Predictions:
    """The predictions in the non-empty ``(line number, cells)`` rows of a file with this header."""
    col = {name: header.index(name) for name in header}
    id_col = col.get("id", col.get("example_id"))
    labels: list[str] = []
    predictions: list[str] = []
    scores: list[float] | None = [] if "score" in col else None
    ids: list[str] | None = [] if id_col is not None else None
    for line_no, row in rows:
        if len(row) < len(header):
            raise InvalidInputError(
                f"predictions file {path}, line {line_no}: {len(row)} cells, header has {len(header)}"
            )
        labels.append(normalize_label(row[col["label"]]))
        predictions.append(normalize_label(row[col["prediction"]]))
        if scores is not None:
            scores.append(_score(path, line_no, row[col["score"]]))
        if ids is not None:
            ids.append(row[id_col].strip())
    return Predictions(
        tuple(labels),
        tuple(predictions),
        tuple(scores) if scores is not None else None,
        tuple(ids) if ids is not None else None,
    )


def _score(path: str, line_no: int, cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise InvalidInputError(f"predictions file {path}, line {line_no}: score {cell!r} is not a number") from None


def pair_predictions(candidate: Predictions, baseline: Predictions) -> PairedPredictions:
    """Line up the candidate's and the baseline's predictions example by example.

    By ``id`` when both files have one (examples present in only one file are dropped and counted), else by
    row, which requires the same number of rows and the same label on every row.

    Args:
        candidate: From :func:`read_predictions`.
        baseline: From :func:`read_predictions`.

    Returns:
        The paired predictions, with a note on how they were paired.

    Raises:
        InvalidInputError: When the two files cannot be paired (the message says why and how to fix it).
    """
    if candidate.ids is not None and baseline.ids is not None:
        pairs, note = _pairs_by_id(candidate, baseline)
    else:
        pairs, note = _pairs_by_row(candidate, baseline)

    def pick(values: tuple[str, ...] | tuple[float, ...] | None, side: int) -> tuple | None:
        return None if values is None else tuple(values[pair[side]] for pair in pairs)

    return PairedPredictions(
        labels=tuple(candidate.labels[ci] for ci, _ in pairs),
        candidate=pick(candidate.predictions, 0),
        baseline=pick(baseline.predictions, 1),
        candidate_scores=pick(candidate.scores, 0),
        baseline_scores=pick(baseline.scores, 1),
        note=note,
    )


def _pairs_by_id(candidate: Predictions, baseline: Predictions) -> tuple[list[tuple[int, int]], str]:
    """``(candidate row, baseline row)`` of the examples both files have, and the pairing note."""
    base_index: dict[str, int] = {}
    for i, key in enumerate(baseline.ids or ()):
        base_index.setdefault(key, i)
    pairs = [(i, base_index[key]) for i, key in enumerate(candidate.ids or ()) if key in base_index]
    if not pairs:
        raise InvalidInputError("the two prediction files share no example id")
    mismatch = [(ci, bi) for ci, bi in pairs if candidate.labels[ci] != baseline.labels[bi]]
    if mismatch:
        ci, bi = mismatch[0]
        raise InvalidInputError(
            f"example id {candidate.ids[ci]!r} has label {candidate.labels[ci]!r} in the candidate's file but"
            f" {baseline.labels[bi]!r} in the baseline's: they were not evaluated on the same data"
        )
    note = f"paired by id: {len(pairs)} common examples"
    dropped = candidate.rows - len(pairs), baseline.rows - len(pairs)
    if any(dropped):
        note += f" ({dropped[0]} only in the candidate's file, {dropped[1]} only in the baseline's)"
    return pairs, note


def _pairs_by_row(candidate: Predictions, baseline: Predictions) -> tuple[list[tuple[int, int]], str]:
    """Row ``i`` with row ``i``, when both files have the same rows with the same labels; and the pairing note."""
    if candidate.rows != baseline.rows:
        raise InvalidInputError(
            f"the candidate's predictions have {candidate.rows} rows and the baseline's {baseline.rows}: evaluate"
            " both on the same test set, or add an 'id' column to pair by example"
        )
    if candidate.rows == 0:
        raise InvalidInputError("the prediction files have no rows")
    for i, (a, b) in enumerate(zip(candidate.labels, baseline.labels, strict=True)):
        if a != b:
            raise InvalidInputError(
                f"row {i + 1} has label {a!r} in the candidate's predictions but {b!r} in the baseline's: they are"
                " not on the same examples (evaluate both on the same test set, or add an 'id' column)"
            )
    return [(i, i) for i in range(candidate.rows)], f"paired by row: {candidate.rows} examples"
