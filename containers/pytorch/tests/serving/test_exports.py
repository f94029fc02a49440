"""The exported graphs: dynamic batch, ONNX checked, int8 really static QDQ with per-channel weight scales."""

from __future__ import annotations

import io

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from PIL import Image

from pytorch_container import artifact, engines, export, networks
from pytorch_container.images import Preprocessing
from pytorch_container.predictor import Predictor, PredictorSettings


def test_the_exported_program_and_onnx_take_any_batch_size(model_dir) -> None:
    metadata = artifact.read_metadata(model_dir)
    for name in ("exported", "onnx", "onnx-int8"):
        engine = engines.load(model_dir, metadata, engine=name, device="cpu")
        for size in (1, 5):
            assert engine.run(np.zeros((size, 1, 8, 8), np.float32)).shape == (size, 10), (name, size)


def test_the_exported_program_is_a_torch_export_program(model_dir) -> None:
    program = torch.export.load(model_dir / artifact.EXPORTED_FILE)
    assert isinstance(program, torch.export.ExportedProgram)


def test_int8_is_static_qdq_uint8_activations_and_per_channel_7_bit_convolution_weights(model_dir) -> None:
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
    weights = [w for w in initializers.values() if w.dtype == np.int8 and w.ndim == 4]
    # 7-bit weights: two products 255 * 64 stay below the 16-bit limit of the x86 int8 multiply-add (no saturation)
    assert len(weights) == 4 and all(-64 <= int(w.min()) and int(w.max()) <= 64 for w in weights)
    activation_zero_points = [
        initializers[node.input[2]] for node in model.graph.node if node.op_type == "QuantizeLinear"
    ]
    assert activation_zero_points and all(z.dtype == np.uint8 for z in activation_zero_points)


def test_write_model_packages_any_network_a_resnet18_for_rgb_images(tmp_path) -> None:
    """The benchmark's ResNet-18 artifacts are written this way (its speed needs no training)."""
    torch.manual_seed(0)
    network = networks.build("resnet18", channels=3, classes=3)
    metadata = artifact.ModelMetadata(
        arch="resnet18",
        class_names=["cat", "dog", "fox"],
        preprocessing=Preprocessing(32, "rgb"),
        files=dict(engines.ENGINE_FILES),
    )
    calibration = np.random.default_rng(0).uniform(-1, 1, (16, 3, 32, 32)).astype(np.float32)
    export.write_model(network, metadata, calibration, tmp_path)
    photo = io.BytesIO()
    Image.effect_noise((120, 90), 60).convert("RGB").save(photo, "JPEG")
    answers = {
        name: Predictor(tmp_path, PredictorSettings(engine=name)).classify(photo.getvalue(), "image/jpeg")
        for name in engines.ENGINES
    }
    assert all(len(answer) == 3 for answer in answers.values())
    top = {name: answer[0]["className"] for name, answer in answers.items()}
    assert top["eager"] == top["exported"] == top["onnx"]
    assert (tmp_path / "code" / "inference.py").is_file()
