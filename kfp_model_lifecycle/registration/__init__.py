"""Registering a trained model version with its lineage."""
