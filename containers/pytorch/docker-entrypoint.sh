#!/bin/sh
# Entry point of the PyTorch images. SageMaker starts training jobs as `docker run IMAGE train` and endpoints
# as `docker run IMAGE serve`; processing jobs replace the entry point (`python3 script.py`). Any other
# command runs as given (`docker run IMAGE python3 -c ...`).
#
# SageMaker starts every container as root and expects root in training and processing jobs (it mounts
# /opt/ml as root). The model server, the process that reads requests from the network, only reads its
# model: started as root, it drops to the image's unprivileged user before it starts.
set -eu
SERVE_UID=10001 # the `model` user of the Dockerfiles
case "${1:-}" in
  train) shift; exec pytorch-train "$@" ;;
  serve)
    shift
    if [ "$(id -u)" -eq 0 ]; then
      exec setpriv --reuid="$SERVE_UID" --regid="$SERVE_UID" --clear-groups --no-new-privs pytorch-serve "$@"
    fi
    exec pytorch-serve "$@" ;;
  "") echo "usage: IMAGE train | serve | COMMAND [ARG...]" >&2; exit 64 ;;
  *) exec "$@" ;;
esac
