"""Loading the served model, the CPU/GPU decision and the direct C-API predictor."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xgboost

from xgboost_container.model_format import ModelFormatError
from xgboost_container.server_model import DensePredictor, DeviceChoice, choose_device, gpu_visible, load

from .server_support import FEATURES, make_model_dir, regression_rows


class TestDeviceChoice:
    def test_gpu_with_cuda_build_uses_cuda(self):
        assert choose_device(forced=None, xgboost_has_cuda=True, has_gpu=True).device == "cuda"

    def test_gpu_without_cuda_build_stays_on_cpu_and_says_why(self):
        choice = choose_device(forced=None, xgboost_has_cuda=False, has_gpu=True)
        assert choice.device == "cpu" and "no CUDA support" in choice.reason

    @pytest.mark.parametrize("has_cuda", [True, False])
    def test_no_gpu_means_cpu(self, has_cuda):
        assert choose_device(forced=None, xgboost_has_cuda=has_cuda, has_gpu=False) == DeviceChoice(
            "cpu", "no NVIDIA GPU visible"
        )

    def test_forced_cpu_on_a_gpu_machine(self):
        assert choose_device(forced="cpu", xgboost_has_cuda=True, has_gpu=True).device == "cpu"

    def test_forced_cuda_needs_a_cuda_build(self):
        with pytest.raises(ValueError, match="no CUDA support"):
            choose_device(forced="cuda", xgboost_has_cuda=False, has_gpu=True)

    def test_forced_value_must_be_known(self):
        with pytest.raises(ValueError, match="'tpu'"):
            choose_device(forced="tpu", xgboost_has_cuda=True, has_gpu=True)

    def test_gpu_visible_reads_the_driver_directory(self, tmp_path, monkeypatch):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        gpus = tmp_path / "gpus"
        gpus.mkdir()
        assert not gpu_visible(str(gpus), str(tmp_path / "nvidia0"))
        (gpus / "0000:00:1e.0").mkdir()
        assert gpu_visible(str(gpus), str(tmp_path / "nvidia0"))

    def test_cuda_visible_devices_can_hide_the_gpu(self, tmp_path, monkeypatch):
        (tmp_path / "nvidia0").touch()
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
        assert not gpu_visible(str(tmp_path / "none"), str(tmp_path / "nvidia0"))
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
        assert gpu_visible(str(tmp_path / "none"), str(tmp_path / "nvidia0"))


class TestDensePredictor:
    @pytest.mark.parametrize("rows", [1, 7, 300])
    def test_equals_inplace_predict(self, model, rows):
        features = regression_rows(rows, seed=rows)[0]
        features[0, 1] = np.nan  # missing values take the same default branch
        expected = model.booster.inplace_predict(features)
        assert np.array_equal(DensePredictor(model.booster)(features), expected)

    def test_multi_output_model_keeps_its_shape(self, tmp_path):
        booster = load(make_model_dir(tmp_path, objective="multi:softprob"), DeviceChoice("cpu", "test")).booster
        features = regression_rows(5)[0]
        predictions = DensePredictor(booster)(features)
        assert predictions.shape == (5, 3)
        assert np.array_equal(predictions, booster.inplace_predict(features))

    def test_result_is_a_copy_not_xgboost_s_buffer(self, model):
        predictor = DensePredictor(model.booster)
        first = predictor(regression_rows(3, seed=1)[0])
        kept = first.copy()
        predictor(regression_rows(3, seed=2)[0])
        assert np.array_equal(first, kept)

    def test_one_predictor_serves_changing_shapes_after_an_error(self, model):
        # The proxy DMatrix is reused from call to call: each call must see only its own rows.
        predictor = DensePredictor(model.booster)
        for rows in (1, 300, 2, 1):
            features = regression_rows(rows, seed=rows)[0]
            assert np.array_equal(predictor(features), model.booster.inplace_predict(features))
        with pytest.raises(xgboost.core.XGBoostError):
            predictor(np.zeros((1, FEATURES + 3), dtype=np.float32))
        features = regression_rows(5, seed=9)[0]
        assert np.array_equal(predictor(features), model.booster.inplace_predict(features))

    def test_any_layout_and_float_type_is_read_as_its_values(self, model):
        features = regression_rows(12, seed=4)[0]
        expected = model.booster.inplace_predict(features[::3])
        predictor = DensePredictor(model.booster)
        for layout in (features[::3], np.asfortranarray(features[::3]), features[::3].astype(np.float64)):
            assert np.array_equal(predictor(layout), expected)
        with pytest.raises(ValueError, match=r"shape \(3,\)"):
            predictor(features[0, :3])

    def test_threads_predicting_at_once_get_their_own_rows(self, model):
        predictor = DensePredictor(model.booster)
        inputs = [regression_rows(1 + i % 4, seed=i)[0] for i in range(64)]
        expected = [model.booster.inplace_predict(features) for features in inputs]
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda features: [predictor(features) for _ in range(20)][-1], inputs))
        assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))

    def test_xgboost_errors_are_raised_with_its_message(self, model):
        with pytest.raises(xgboost.core.XGBoostError, match="[Ff]eature"):
            DensePredictor(model.booster)(np.zeros((1, FEATURES + 3), dtype=np.float32))


class TestLoad:
    def test_loads_metadata_and_logs_the_device(self, model_dir, caplog):
        with caplog.at_level(logging.INFO, logger="xgboost_container.server_model"):
            loaded = load(model_dir)
        assert loaded.num_features == FEATURES
        assert loaded.device.device == "cpu"  # xgboost-cpu has no CUDA support
        assert "predictor device cpu" in caplog.text

    def test_predict_accepts_any_float_layout(self, model):
        features = regression_rows(4)[0]
        fortran = np.asfortranarray(features.astype(np.float64))
        assert np.array_equal(model.predict(fortran), model.predict(features))

    def test_missing_artifact_is_a_clear_error(self, tmp_path: Path):
        with pytest.raises(ModelFormatError, match="xgboost-model"):
            load(tmp_path)
