"""The exported graphs: dynamic batch, ONNX checked, int8 really static QDQ with per-channel weight scales."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from pytorch_container import artifact, engines


def test_the_exported_program_and_onnx_take_any_batch_size(model_dir) -> None:
    metadata = artifact.read_metadata(model_dir)
    for name in ("exported", "onnx", "onnx-int8"):
        engine = engines.load(model_dir, metadata, engine=name, device="cpu")
        for size in (1, 5):
            assert engine.run(np.zeros((size, 1, 8, 8), np.float32)).shape == (size, 10), (name, size)


def test_the_exported_program_is_a_torch_export_program(model_dir) -> None:
    program = torch.export.load(model_dir / artifact.EXPORTED_FILE)
    assert isinstance(program, torch.export.ExportedProgram)


def test_int8_is_static_qdq_with_per_channel_convolution_weights(model_dir) -> None:
    model = onnx.load(str(model_dir / artifact.ONNX_INT8_FILE))
    ops = [node.op_type for node in model.graph.node]
    assert "ConvInteger" not in ops and "DynamicQuantizeLinear" not in ops  # not dynamic quantization
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 8
    initializers = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    weight_scales = [
        initializers[node.input[1]]
        for node in model.graph.node
        if node.op_type == "DequantizeLinear"
        and initializers.get(node.input[0]) is not None
        and initializers[node.input[0]].dtype == np.int8
        and initializers[node.input[0]].ndim == 4
    ]
    assert len(weight_scales) == 4  # the four convolutions
    assert all(scale.ndim == 1 and scale.size in (32, 64) for scale in weight_scales)  # one scale per channel
