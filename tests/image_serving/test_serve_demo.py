"""`make serve-demo` end to end, small: both sides answer the same digits with the same classes."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_lifecycle import serve_demo

pytestmark = pytest.mark.e2e


def test_the_lambda_handler_and_the_always_on_server_answer_the_same_images(model_dir: Path, tmp_path: Path) -> None:
    result = serve_demo.run(count=30, epochs=3, run_dir=tmp_path, model_dir=model_dir)

    assert len(result.serverless.answers) == len(result.always_on.answers) == 30
    assert result.serverless.answers == result.always_on.answers  # same engine, same model version
    assert result.serverless.accuracy(result.images) >= 0.8
    assert result.cold_init_ms > 0 and result.cold_init_rss_mb > 50
    assert (tmp_path / "always-on-model" / "model-int8.onnx").is_file()  # installed by the init container's code
    summary = serve_demo.report(result).splitlines()[-1]
    assert summary.startswith("serve-demo: 30 digits, both answered every one; same top-3 classes on 30/30")
    assert "(pytorch-serve)" in summary
