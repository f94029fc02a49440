"""How the PyTorch serving image is run (the model server's contract, containers/pytorch).

One source for the Fargate task definition, the Elastic Beanstalk compose file and the tests:
`docker-entrypoint.sh serve` runs `pytorch-serve` on port 8080, `GET /ping` is its health check and it reads
the model from `SM_MODEL_DIR`.
"""

from __future__ import annotations

from stacks.config import AlwaysOnServingConfig, ImageServingConfig

SERVE_COMMAND = ["serve"]
PORT = 8080
HEALTH_CHECK_PATH = "/ping"
MODEL_DIR = "/opt/ml/model"
SERVER_USER = "10001"  # the image's unprivileged `model` user
INIT_CONTAINER = "model"
SERVER_CONTAINER = "classifier"


def server_environment(serving: ImageServingConfig, settings: AlwaysOnServingConfig) -> dict[str, str]:
    """The serving container's environment."""
    return {
        "SM_MODEL_DIR": MODEL_DIR,
        "SAGEMAKER_BIND_TO_PORT": str(PORT),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(settings.workers),
        "MODEL_ENGINE": serving.engine,
        "MODEL_DEVICE": "cpu",
    }


def fetch_environment(serving: ImageServingConfig) -> dict[str, str]:
    """The init container's environment (model_fetch)."""
    return {
        "MODEL_PACKAGE_GROUP": serving.default_group,
        "MODEL_BUCKETS": ",".join(serving.model_bucket_names),
        "MODEL_DIR": MODEL_DIR,
    }
