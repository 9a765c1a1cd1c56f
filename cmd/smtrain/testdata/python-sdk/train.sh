#!/bin/sh
# A training program for the Python-SDK-shaped job: counts the rows of the
# train channel into the model.
set -e
base="${SAGEMAKER_BASE_DIR:-/opt/ml}"
rows=$(cat "$base"/input/data/training/* | wc -l)
echo "rows=$rows"
echo "$rows" > "$base/model/rows.txt"
