"""Benchmarks: scripts that measure against a baseline in the same run and write tables under docs/bench/."""
