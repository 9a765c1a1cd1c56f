#!/usr/bin/env bash
# Quick start: train examples/linear on its bundled data in a fresh
# temporary /opt/ml-shaped tree, as a SageMaker container would run it
# ("train" as the argument), then print where the model went, the final
# metrics and the exit status.
#
#   scripts/train-example.sh [name=value ...]     e.g. epochs=30 objective=linear
#
# Interim command until `smtrain local -f examples/linear/job.json` replaces it.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/train-example.XXXXXX")
CGO_ENABLED=0 go build -trimpath -o "$work/train" ./examples/linear
base=$(go run ./examples/linear/mktree "$work/opt/ml" "$@")

set +e
SAGEMAKER_BASE_DIR="$base" "$work/train" train | tee "$work/stdout.log"
status=${PIPESTATUS[0]}
set -e

echo
echo "tree:   $base"
for f in "$base"/model/*; do
	[ -e "$f" ] && echo "model:  $f"
done
[ -e "$base/output/failure" ] && echo "failure: $(cat "$base/output/failure")"
echo "final metrics:"
# The last line of each metric.
awk '/^#metric /{ split(substr($0, 9), a, "="); last[a[1]] = $0 } END { for (k in last) print "  " last[k] }' "$work/stdout.log" | sort
echo "exit status: $status"
exit "$status"
