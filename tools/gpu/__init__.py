"""The GPU check: one prepared script that measures the GPU path against the CPU (tools/gpu/check.sh)."""
