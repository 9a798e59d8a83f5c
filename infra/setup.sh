#!/usr/bin/env bash
# Builds the Terraform providers infra/ needs from the Go module proxy into a local
# filesystem mirror, because the Terraform registry is unreachable here.
#
#   infra/setup.sh            # builds kubernetes + helm into $FLYWHEEL_TF_MIRROR
#
# The mirror defaults to ~/.cache/flywheel/terraform-providers; infra tests find it
# there (or via FLYWHEEL_TF_MIRROR). Each provider is pinned to a Go pseudo-version
# (a commit on the provider's main branch: its v2+/v3 tags are not Go-module
# versions, so the proxy serves commits only) and installed under the release
# version its CHANGELOG names, which is what required_providers constrains.
set -euo pipefail
MIRROR="${FLYWHEEL_TF_MIRROR:-${XDG_CACHE_HOME:-$HOME/.cache}/flywheel/terraform-providers}"
command -v go >/dev/null || { echo "infra/setup.sh: go is not installed (need Go >= 1.26 for the kubernetes provider)" >&2; exit 1; }

# name  go-pseudo-version                        version-installed-as
PROVIDERS=(
  "kubernetes v1.13.4-0.20260821094251-3a33fb6cc605 3.2.1"
  "helm       v1.3.3-0.20260629194918-a4f1c1d8b008  3.2.0"
)

for line in "${PROVIDERS[@]}"; do
  read -r name gover version <<<"$line"
  dest="$MIRROR/registry.terraform.io/hashicorp/$name/$version/linux_amd64"
  bin="$dest/terraform-provider-${name}_v${version}"
  if [ -x "$bin" ]; then
    echo "provider $name $version: already in $dest"
    continue
  fi
  module="github.com/hashicorp/terraform-provider-$name"
  echo "provider $name $version: building $module@$gover (several minutes on 2 cores)"
  src="$(go mod download -json "$module@$gover" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  mkdir -p "$dest"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
  echo "provider $name $version: installed $bin"
done
echo "terraform provider mirror ready: $MIRROR"
