"""Example pipeline for a KFP recurring run: verify the installation, then audit the registry."""

from kfp_model_lifecycle.pipelines.registry_audit.pipeline import registry_audit_pipeline

__all__ = ["registry_audit_pipeline"]
