"""Dagster software-defined assets: the whole life of a model as one lineage graph.

This package orchestrates: each asset, check, sensor and schedule is a thin
adapter that reads its inputs, calls logic from domain/, training/, serving/ or
monitoring/, and returns the result with metadata. It may import all of them;
nothing imports it. The code location is `assets/definitions.py`.
"""
