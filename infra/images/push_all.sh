#!/usr/bin/env bash
# Pushes every Flywheel image to --registry and writes infra/terraform/images.auto.tfvars.json,
# the digests `terraform apply` deploys:  bazel run //infra/images:push_all -- --registry HOST/PATH
set -euo pipefail
registry=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--registry" ]; then j=$((i + 1)); registry="${!j}"; fi
done
[ -n "$registry" ] || { echo "push_all: --registry HOST[:PORT]/PATH is required" >&2; exit 2; }
[ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ] || { echo "push_all: run me with bazel run" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
runfiles="${RUNFILES_DIR:-$0.runfiles}/flywheel/infra/images"
[ -d "$runfiles" ] || runfiles="$here"
entries=()
for image in serving user_code training_job training_job_gpu; do
  output="$("$runfiles/${image}_push.sh" "$@")"
  echo "$output"
  digest="$(grep -o 'sha256:[0-9a-f]\{64\}' <<<"$output" | head -1)"
  entries+=("\"$image\": \"${registry%/}/$image@$digest\"")
done
out="$BUILD_WORKSPACE_DIRECTORY/infra/terraform/images.auto.tfvars.json"
(IFS=,; printf '{"images": {%s}}\n' "${entries[*]}") | python3 -m json.tool > "$out"
echo "wrote $out"
