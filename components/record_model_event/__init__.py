"""record_model_event: append an event (e.g. a rejected challenger) to a model's audit trail."""

from kfp_model_lifecycle.components.record_model_event.component import (
    record_model_event,
    record_model_event_with_context,
)
from kfp_model_lifecycle.components.record_model_event.recording import run_record_model_event

__all__ = ["record_model_event", "record_model_event_with_context", "run_record_model_event"]
