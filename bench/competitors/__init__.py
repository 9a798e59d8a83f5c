"""Peer inference servers for bench/serving_bench.py, each run in its own virtualenv (see setup_envs.sh)."""
