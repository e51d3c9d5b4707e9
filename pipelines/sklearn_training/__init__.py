"""Example pipeline: train a scikit-learn classifier, evaluate it and register it with its lineage."""
