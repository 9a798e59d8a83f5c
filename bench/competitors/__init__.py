"""Benchmark peers, each in its own virtualenv (see setup_envs.sh): inference servers, Evidently's drift tests."""
