#!/bin/sh
# Entry point of the XGBoost images. SageMaker starts training jobs as `docker run IMAGE train` and
# endpoints as `docker run IMAGE serve`; processing jobs replace the entry point (`python3 script.py`).
# Any other command runs as given (e.g. `docker run IMAGE python3 -c ...`).
set -eu
case "${1:-}" in
  train) shift; exec xgboost-train "$@" ;;
  serve) shift; exec xgboost-serve "$@" ;;
  "") echo "usage: IMAGE train | serve | COMMAND [ARG...]" >&2; exit 64 ;;
  *) exec "$@" ;;
esac
