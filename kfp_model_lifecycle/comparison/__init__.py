"""Comparing model versions: metric gates, paired significance, reports."""
