#!/usr/bin/env bash
# Installs what the requires-docker tests need, idempotently: Debian's Docker engine
# (dockerd 20.10, containerd, runc) and docker-registry (a real registry for the push
# test). Nothing is started here: each test starts its own dockerd with its own data
# root (tests/images/docker_engine.py) and stops it afterwards.
set -euo pipefail
PACKAGES=(docker.io docker-registry)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[setup_docker] docker.io and docker-registry already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup_docker: run as root: apt-get install -y ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "[setup_docker] installing ${missing[*]}"
$SUDO apt-get update -qq
# policy-rc.d keeps the packages' own services from starting: tests start dockerd themselves.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v dockerd >/dev/null || { echo "setup_docker: dockerd is still missing after apt-get" >&2; exit 1; }
echo "[setup_docker] ready: $(dockerd --version)"
