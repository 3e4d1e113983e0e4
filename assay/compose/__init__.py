"""Composition: the pure combination rules (``rules``), the composite reward that applies them (``composite``), and the builder that turns a config into rewards (``load``)."""
