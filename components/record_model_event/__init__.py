"""record_model_event: append an event (e.g. a rejected challenger) to a model's audit trail.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.record_model_event.component import (
    record_model_event,
    record_model_event_with_context,
)

__all__ = ["record_model_event", "record_model_event_with_context"]
