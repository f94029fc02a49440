"""Exports of a trained network: a `torch.export` program, ONNX fp32 and ONNX int8.

The graph format is `torch.export` (`.pt2`), not TorchScript: TorchScript is deprecated in favour of
`torch.export`, which is also what the ONNX exporter (`dynamo=True`) and AOTInductor start from.

The int8 model is ONNX Runtime's static quantization in the QDQ format with per-channel weights,
calibrated (min/max) on training images. Measured on this platform's CPUs (see `bench/pytorch`), that is
the variant that makes a convolutional network faster: dynamic quantization turns convolutions into
`ConvInteger`, which ONNX Runtime does not optimize (3.6x slower than fp32 on a ResNet-18-class CNN).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from pytorch_container.artifact import INPUT_NAME, OUTPUT_NAME

LOG = logging.getLogger(__name__)
# The ONNX exporter's passes log every step at INFO, and it warns that torchvision (whose detection
# operators it would register) is not installed; neither says anything about this model.
for _name in ("onnxscript", "onnx_ir"):
    logging.getLogger(_name).setLevel(logging.WARNING)
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
ONNX_OPSET = 18
MAX_BATCH = 1024  # largest batch the exported graphs accept (their batch dimension is dynamic up to it)


def _batch_dim() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def export_program(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Save `network` (in eval mode, on CPU) as a `torch.export` program with a dynamic batch size."""
    program = torch.export.export(network.eval(), (example,), dynamic_shapes=({0: _batch_dim()},))
    torch.export.save(program, path)


def export_onnx(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Save `network` (eval mode, CPU) as one ONNX file (weights inside) with a dynamic batch size."""
    program = torch.onnx.export(
        network.eval(),
        (example,),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=ONNX_OPSET,
        dynamo=True,
        external_data=False,
        verbose=False,
        dynamic_shapes=({0: _batch_dim()},),
    )
    if program is None:  # only the TorchScript exporter returns None
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(str(path), external_data=False)
    onnx.checker.check_model(str(path))


class _Batches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type information
    """Feeds calibration images to ONNX Runtime's calibrator, `batch_size` at a time."""

    def __init__(self, inputs: np.ndarray, batch_size: int = 32) -> None:
        self._batches = iter([inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Write the static QDQ int8 model of `fp32_path`: int8 weights per output channel, int8 activations
    with ranges calibrated (min/max) on `calibration` (normalized N x C x H x W training images).

    The model is first pre-processed as ONNX Runtime recommends (symbolic shape inference and graph
    optimization: batch norms folded into convolutions), so that every convolution is quantized.
    """
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_static(
            str(prepared),
            str(int8_path),
            _Batches(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    onnx.checker.check_model(str(int8_path))
