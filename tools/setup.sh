#!/usr/bin/env bash
# Installs everything Flywheel needs on a fresh Debian 12 machine, idempotently:
# system packages (Bazel, Java, Maven, Prometheus, npm), uv, and the .venv built
# from the one hash-pinned lock. Fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.9.30
# What must exist -> the Debian package that provides it (a tool already on PATH, e.g. a
# Node.js install that ships npm, is left alone).
NEEDS=(bazel:bazel-bootstrap /usr/share/bazel/rules/java:bazel-rules-java prometheus:prometheus
       promtool:prometheus prometheus-alertmanager:prometheus-alertmanager mvn:maven java:default-jre-headless
       npm:npm git:git /usr/bin/python3.11:python3.11 sha256sum:coreutils chromium:chromium)

log() { printf '[setup] %s\n' "$*"; }

missing=()
for need in "${NEEDS[@]}"; do
  what="${need%%:*}"; pkg="${need##*:}"
  if [[ "$what" == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "setup: missing system packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for tool in bazel java mvn prometheus npm; do
  command -v "$tool" >/dev/null || { echo "setup: '$tool' is still missing after apt-get; see the log above" >&2; exit 1; }
done

if ! command -v uv >/dev/null || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  log "installing uv $UV_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "uv==$UV_VERSION"
fi

# The .venv for `dagster dev`, notebooks and IDEs, from the same lock Bazel uses.
lock_hash=$(sha256sum tools/python/requirements.lock | cut -d' ' -f1)
if [ "$(cat .venv/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  log "building .venv from tools/python/requirements.lock (first time: a few minutes, torch is large)"
  [ -x .venv/bin/python ] || uv venv --quiet --python /usr/bin/python3.11 .venv
  VIRTUAL_ENV=.venv uv pip sync --quiet --require-hashes tools/python/requirements.lock
  echo "$lock_hash" > .venv/.lock-hash
fi
# Docker engine for the requires-docker image tests (started by the tests themselves), and the
# Terraform providers built from the Go module proxy for `terraform validate` (cached; ~20 min once).
tools/images/setup_docker.sh
infra/setup.sh

# The repository root on the venv's path, so `python -m assets...` works from anywhere.
echo "$PWD" > .venv/lib/python3.11/site-packages/flywheel-repo.pth
log "ready"
