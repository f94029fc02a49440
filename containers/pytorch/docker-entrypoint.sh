#!/bin/sh
# Entry point of the PyTorch images. SageMaker starts training jobs as `docker run IMAGE train`; any other
# command runs as given (`docker run IMAGE python3 -c ...`, processing jobs that replace the entry point).
# SageMaker starts containers as root and mounts /opt/ml as root, so training runs as started. The image's
# unprivileged `model` user (uid 10001) is for the model server, which must not run as root.
set -eu
case "${1:-}" in
  train) shift; exec pytorch-train "$@" ;;
  "") echo "usage: IMAGE train | COMMAND [ARG...]" >&2; exit 64 ;;
  *) exec "$@" ;;
esac
