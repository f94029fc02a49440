"""Fetch the model of an approved SageMaker model package: resolve the version, download and unpack it.

Used where SageMaker does not unpack `model.tar.gz` into `/opt/ml/model` itself: the image classifier's
Lambda function (at init, into `/tmp`) and the always-on service's init container (into the volume the
serving container reads as `SM_MODEL_DIR`).
"""
