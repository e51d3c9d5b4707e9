"""Should a candidate model version replace the baseline? Which of N versions is best? Gates, tests, reports.

The ``compare_models`` component's task calls :func:`run_compare_models` and maps its
:class:`ComparisonResult` onto the component's outputs; the ``compare_versions`` component's task calls
:func:`run_compare_versions` (Python callers: :func:`compare_versions` on an open connection) and maps its
:class:`Leaderboard`. The modules, by concern:

* :mod:`.settings` -- the inputs, checked before connecting (:class:`CompareSettings`).
* :mod:`.gates` -- MLflow-style metric gates (:class:`Gate`) and their evaluation.
* :mod:`.predictions`, :mod:`.metrics`, :mod:`.bootstrap`, :mod:`.significance` -- per-example predictions and
  the exact McNemar test / paired bootstrap on them.
* :mod:`.versions`, :mod:`.ranking`, :mod:`.recorded_predictions` -- what is read from and written to the registry.
* :mod:`.decision` -- promote or keep, and why; :mod:`.result` -- the result record; :mod:`.run` -- the job.
* :mod:`.directions`, :mod:`.selection`, :mod:`.leaderboard` -- ranking N versions: the metrics and their
  directions, which versions, the ranking (:class:`Leaderboard`).
* :mod:`.report` -- the Markdown and HTML reports; :mod:`.task` and :mod:`.leaderboard_task` -- the components' jobs.
"""

from kfp_model_lifecycle.comparison.directions import RankMetric
from kfp_model_lifecycle.comparison.leaderboard import (
    Leaderboard,
    LeaderboardRow,
    compare_versions,
    run_compare_versions,
)
from kfp_model_lifecycle.comparison.result import ComparisonResult
from kfp_model_lifecycle.comparison.run import run_compare_models
from kfp_model_lifecycle.comparison.settings import CompareSettings

__all__ = [
    "CompareSettings",
    "ComparisonResult",
    "Leaderboard",
    "LeaderboardRow",
    "RankMetric",
    "compare_versions",
    "run_compare_models",
    "run_compare_versions",
]
