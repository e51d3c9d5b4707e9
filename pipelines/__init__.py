"""Example pipelines composed of the lifecycle components."""
