"""Names of the Model Registry REST API v1 that several modules of the embedded registry share."""

BASE_PATH = "/api/model_registry/v1"
"""The API root every operation is served under."""

MODEL_ARTIFACT = "model-artifact"
"""The ``artifactType`` of model artifacts (the ``/model_artifacts`` endpoints serve only these)."""
