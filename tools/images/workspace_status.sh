#!/usr/bin/env bash
# Bazel workspace status (.bazelrc: build --workspace_status_command=tools/images/workspace_status.sh).
# STABLE_ keys land in stable-status.txt, which image rules read for the OCI revision label.
echo "STABLE_GIT_COMMIT $(git rev-parse HEAD 2>/dev/null || echo unknown)"
