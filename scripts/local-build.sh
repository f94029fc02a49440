#!/usr/bin/env bash
# Runs the model build pipeline's steps on this machine, without an AWS account and without Docker:
# starts a moto server as the AWS endpoint, creates the project's artifact bucket, uploads the data set
# to it and runs the seed repo's `python -m pipelines.run_pipeline --local` against them.
#
#   scripts/local-build.sh <data.csv>          (make local-build runs it on the Abalone data set)
#
# Optional environment: AWS_REGION (us-east-1), LOCAL_BUILD_DIR (.local-run/build: moto log and
# run-summary.json), XGBOOST_IMAGE_URI / XGBOOST_GPU_IMAGE_URI (the image URIs recorded in the model
# package; SageMaker's built-in XGBoost image when unset).
set -euo pipefail

data=${1:?usage: scripts/local-build.sh <data.csv>}
[ -f "$data" ] || { echo "local-build: data file $data not found" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "$(dirname "$data")" && pwd)/$(basename "$data")
py=$root/.venv/bin/python
out=${LOCAL_BUILD_DIR:-$root/.local-run/build}
mkdir -p "$out"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$out/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT

# Only the local emulator is reachable with these settings; nothing touches a real AWS account.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}
export SAGEMAKER_PROJECT_NAME=local-build SAGEMAKER_PROJECT_ID=p-local
export ARTIFACT_BUCKET=sagemaker-project-p-local MODEL_PACKAGE_GROUP_NAME=local-build-p-local
export PIPELINE_EXECUTION_MODE=local RUN_SUMMARY_PATH=$out/run-summary.json
export SAGEMAKER_SUPPRESS_V2_WARNING=1 PYTHONDONTWRITEBYTECODE=1

input_url=s3://$ARTIFACT_BUCKET/dataset/$(basename "$data")
"$py" - "$data" "$input_url" <<'PY'
"""Wait for the moto server, create the artifact bucket and upload the data set."""
import sys
import time

import boto3
from botocore.exceptions import EndpointConnectionError

data, url = sys.argv[1:3]
bucket, key = url[len("s3://"):].split("/", 1)
s3 = boto3.client("s3")
for _ in range(100):
    try:
        s3.list_buckets()
        break
    except EndpointConnectionError:
        time.sleep(0.1)
else:
    sys.exit("local-build: the moto server did not start (see moto.log)")
s3.create_bucket(Bucket=bucket)
s3.upload_file(data, bucket, key)
print(f"local-build: AWS endpoint {s3.meta.endpoint_url}, data set uploaded to {url}")
PY

cd "$root/seedcode/model-build"
started=$(date +%s.%N)
status=0
"$py" -m pipelines.run_pipeline --local --input-data "$input_url" || status=$?
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "local-build: run summary in $RUN_SUMMARY_PATH (pipeline steps took ${elapsed} s)" >&2
exit "$status"
