"""`xgboost-serve` settings (environment, command line, defaults) and its start-up failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from http_serving.settings import Limits, ServerSettings
from xgboost_container import serve
from xgboost_container.serve import Settings, resolve_settings


def test_defaults_follow_the_sagemaker_contract():
    settings = resolve_settings([], {})
    assert settings == Settings(
        model_dir=Path("/opt/ml/model"),
        threads_per_worker=1,
        server=ServerSettings(host="0.0.0.0", port=8080, workers=os.cpu_count() or 1, timeout=60, limits=Limits()),
    )
    assert settings.server.limits.max_body_bytes == 6 * 1024 * 1024  # SageMaker's real-time payload limit


def test_environment_overrides():
    settings = resolve_settings(
        [],
        {
            "SM_MODEL_DIR": "/models/a",
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "MODEL_SERVER_HOST": "127.0.0.1",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "MODEL_SERVER_THREADS_PER_WORKER": "2",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "5",
            "MODEL_SERVER_MAX_BODY_BYTES": "1000",
            "MODEL_SERVER_MAX_HEAD_BYTES": "2048",
            "MODEL_SERVER_MAX_HEADER_FIELDS": "20",
            "MODEL_SERVER_REQUEST_DEADLINE_S": "2.5",
            "MODEL_SERVER_KEEPALIVE_S": "10",
            "MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER": "8",
        },
    )
    assert settings == Settings(
        Path("/models/a"), 2, ServerSettings("127.0.0.1", 9000, 3, 5, Limits(1000, 2048, 20, 2.5, 10.0, 8))
    )


def test_sm_ml_root_moves_the_model_dir():
    assert resolve_settings([], {"SM_ML_ROOT": "/tmp/ml"}).model_dir == Path("/tmp/ml/model")


def test_command_line_wins_and_the_serve_argument_is_ignored():
    settings = resolve_settings(
        ["serve", "--port", "9100", "--workers", "1", "--model-dir", "/m", "--host", "::1"],
        {"SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "4"},
    )
    server = settings.server
    assert (server.port, server.workers, settings.model_dir, server.host) == (9100, 1, Path("/m"), "::1")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "many"}, "'many'"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "at least 1"),
        ({"SAGEMAKER_BIND_TO_PORT": "80.5"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"MODEL_SERVER_MAX_BODY_BYTES": "-1"}, "MODEL_SERVER_MAX_BODY_BYTES"),
        ({"MODEL_SERVER_MAX_HEAD_BYTES": "100"}, "MODEL_SERVER_MAX_HEAD_BYTES must be at least 256"),
        ({"MODEL_SERVER_REQUEST_DEADLINE_S": "soon"}, "MODEL_SERVER_REQUEST_DEADLINE_S must be a number"),
        ({"MODEL_SERVER_REQUEST_DEADLINE_S": "inf"}, "must be a finite number"),
        ({"MODEL_SERVER_KEEPALIVE_S": "nan"}, "MODEL_SERVER_KEEPALIVE_S must be a finite number"),
        ({"MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER": "0"}, "MODEL_SERVER_MAX_CONNECTIONS_PER_WORKER"),
        ({"MODEL_SERVER_THREADS_PER_WORKER": "0"}, "MODEL_SERVER_THREADS_PER_WORKER"),
    ],
)
def test_bad_values_name_the_setting(env, fragment):
    with pytest.raises(ValueError, match=fragment):
        resolve_settings([], env)


def test_main_refuses_to_start_on_a_bad_setting(monkeypatch, capsys, model_dir):
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "many")
    assert serve.main(["--model-dir", str(model_dir)]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_main_refuses_to_start_without_a_model(tmp_path, capsys):
    assert serve.main(["--model-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "cannot start" in error and "xgboost-model" in error


def test_main_refuses_a_forced_gpu_on_a_cpu_build(monkeypatch, capsys, model_dir):
    monkeypatch.setenv("XGBOOST_SERVE_DEVICE", "cuda")
    assert serve.main(["--model-dir", str(model_dir)]) == 1
    assert "no CUDA support" in capsys.readouterr().err
