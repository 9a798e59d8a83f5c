#!/usr/bin/env bash
# Regenerates every pin of the repository from its top-level lists:
#   tools/python/requirements.in  -> tools/python/requirements.lock (hash-pinned, all platforms' hashes)
#   tools/services/kafka_jars/pom.xml -> tools/services/kafka_jars/jars.sha256
# then refreshes the .venv. Bazel picks the new lock up by itself; only the groups
# whose pins changed are reinstalled (tools/python/groups.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v uv >/dev/null || { echo "uv is not installed: run tools/setup.sh" >&2; exit 1; }
uv pip compile tools/python/requirements.in --generate-hashes --no-header \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  -o tools/python/requirements.lock "$@"
/usr/bin/python3.11 tools/services/kafka_jars/fetch_jars.py --update
if [ -d .venv ]; then
  VIRTUAL_ENV=.venv uv pip sync --quiet --require-hashes tools/python/requirements.lock
fi
echo "lock regenerated: tools/python/requirements.lock, tools/services/kafka_jars/jars.sha256"
