"""A deployed endpoint's model served by the real model server on loopback, standing in for SageMaker."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from local_lifecycle.emulator import Emulator
from local_lifecycle.processes import free_port, start_logged, wait_until_answering


def download_endpoint_model(emulator: Emulator, endpoint_name: str, *, role_chain: str, model_dir: Path) -> Path:
    """Extract the `model.tar.gz` the endpoint's model names (as deployed, in its account) into `model_dir`."""
    sagemaker = emulator.client("sagemaker", role_chain=role_chain)
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    bucket, key = model["PrimaryContainer"]["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    body = emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        archive.extractall(model_dir, filter="data")
    return model_dir


def start_model_server(model_dir: Path, *, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`xgboost-serve` (one worker) on a free loopback port, answering `/ping`; returns (process, port)."""
    port = free_port()
    server = start_logged(
        [str(Path(sys.executable).with_name("xgboost-serve"))],
        env={
            **os.environ,
            "SM_MODEL_DIR": str(model_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        },
        log_path=log_path,
    )
    wait_until_answering(server, f"http://127.0.0.1:{port}/ping", what="model server", log_path=log_path)
    return server, port
