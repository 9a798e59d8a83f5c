#!/usr/bin/env bash
# Builds the benchmarks' peer virtualenvs from their hash-pinned locks (idempotent; uv's cache is kept):
#   .flywheel/bench-venvs/pytriton   nvidia-pytriton 0.7.0 (Triton 2.51, Python backend) + ONNX Runtime (serving)
#   .flywheel/bench-venvs/mlserver   MLServer 1.7.1 + ONNX Runtime, uvloop<0.22 (serving)
#   .flywheel/bench-venvs/evidently  Evidently 0.7.23 (bench/monitoring_drift.py: its default drift tests)
#   .flywheel/bench-tools/ghz        ghz v0.93.0, the gRPC load client (serving; built with Go from the module proxy)
# All are built on Debian's /usr/bin/python3.11: PyTriton's stub links Debian's libpython3.11.so, and another
# interpreter's standard library crashes model load. They stay out of the main lock (their pins conflict with it,
# or, for Evidently, would add about 30 packages to it for one benchmark).
#
#   bench/competitors/setup_envs.sh                   # create or sync every peer's virtualenv
#   bench/competitors/setup_envs.sh evidently         # only the named peers
#   bench/competitors/setup_envs.sh --lock [PEER...]  # re-resolve requirements-*.in -> requirements-*.lock, then sync
set -euo pipefail
cd "$(dirname "$0")/../.."
ALL_PEERS=(pytriton mlserver evidently ghz)
GHZ_VERSION=v0.93.0
LOCK=0
[ "${1:-}" = "--lock" ] && { LOCK=1; shift; }
PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=("${ALL_PEERS[@]}")
for peer in "${PEERS[@]}"; do
  [ "$peer" = ghz ] || [ -f "bench/competitors/requirements-$peer.in" ] || {
    echo "unknown peer '$peer': expected one of ${ALL_PEERS[*]}" >&2
    exit 2
  }
done
command -v uv >/dev/null || { echo "uv is not installed: run tools/setup.sh" >&2; exit 1; }
PYTHON=/usr/bin/python3.11
[ -x "$PYTHON" ] || { echo "$PYTHON is missing: apt-get install -y python3.11 libpython3.11" >&2; exit 1; }
for peer in "${PEERS[@]}"; do
  if [ "$peer" = ghz ]; then
    command -v go >/dev/null || { echo "Go is not installed: ghz is built with it" >&2; exit 1; }
    [ -x .flywheel/bench-tools/ghz ] ||
      GOBIN="$PWD/.flywheel/bench-tools" GOFLAGS=-mod=mod go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
    echo "ghz: .flywheel/bench-tools/ghz ($GHZ_VERSION)"
    continue
  fi
  spec=bench/competitors/requirements-$peer.in
  lock=bench/competitors/requirements-$peer.lock
  venv=.flywheel/bench-venvs/$peer
  if [ "$LOCK" = 1 ] || [ ! -f "$lock" ]; then
    # manylinux_2_35: the oldest glibc nvidia-pytriton's wheels accept (Debian 12 has 2.36)
    uv pip compile "$spec" --generate-hashes --no-header --quiet \
      --python-version 3.11 --python-platform x86_64-manylinux_2_35 -o "$lock"
  fi
  if ! grep -qx "home = /usr/bin" "$venv/pyvenv.cfg" 2>/dev/null; then
    rm -rf "$venv"
    uv venv --quiet --python "$PYTHON" "$venv"
  fi
  VIRTUAL_ENV=$venv uv pip sync --quiet --require-hashes --python "$venv/bin/python" "$lock"
  case $peer in
    pytriton) shown=(nvidia-pytriton onnxruntime numpy) ;;
    mlserver) shown=(mlserver onnxruntime numpy) ;;
    *) shown=("$peer" numpy scipy) ;;
  esac
  echo "$peer: $venv ($("$venv/bin/python" -c 'import importlib.metadata as m, sys; print(", ".join(p + " " + m.version(p) for p in sys.argv[1:]))' "${shown[@]}"))"
done
