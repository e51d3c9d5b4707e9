"""Deploying model versions to KServe: manifest, rollout, registry serving records, history."""
