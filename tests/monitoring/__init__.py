"""Tests of monitoring/ against the fraud generator and the real Prometheus."""
