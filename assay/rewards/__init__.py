"""Reward families, one module per family. Types are registered in ``assay/registry.py``."""
