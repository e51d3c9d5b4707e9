"""Should a candidate model version replace the baseline? Metric gates, a paired significance test, reports.

The ``compare_models`` component's task calls :func:`run_compare_models` and maps its
:class:`ComparisonResult` onto the component's outputs. The modules, by concern:

* :mod:`.settings` -- the inputs, checked before connecting (:class:`CompareSettings`).
* :mod:`.gates` -- MLflow-style metric gates (:class:`Gate`) and their evaluation.
* :mod:`.predictions`, :mod:`.metrics`, :mod:`.bootstrap`, :mod:`.significance` -- per-example predictions and
  the exact McNemar test / paired bootstrap on them.
* :mod:`.versions`, :mod:`.ranking`, :mod:`.recorded_predictions` -- what is read from and written to the registry.
* :mod:`.decision` -- promote or keep, and why; :mod:`.result` -- the result record; :mod:`.run` -- the job.
* :mod:`.report` -- the Markdown and HTML reports.
"""

from kfp_model_lifecycle.comparison.result import ComparisonResult
from kfp_model_lifecycle.comparison.run import run_compare_models
from kfp_model_lifecycle.comparison.settings import CompareSettings

__all__ = ["CompareSettings", "ComparisonResult", "run_compare_models"]
