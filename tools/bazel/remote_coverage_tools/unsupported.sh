#!/bin/sh
echo "bazel coverage is not supported in Flywheel (offline build)" >&2
exit 1
