"""Stages, aliases, approvals and the audit trail on the Kubeflow Model Registry."""
