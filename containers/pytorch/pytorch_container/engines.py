"""The engines that run a trained classifier, behind one interface: normalized N x C x H x W in, logits out.

| Engine | File | Runs on |
|---|---|---|
| `eager` | `weights.pt` into the network of `networks.py` | torch, CPU or CUDA |
| `exported` | `model.pt2` (`torch.export`) | torch, CPU or CUDA |
| `onnx` | `model.onnx` (fp32) | ONNX Runtime: CPU, or CUDA with onnxruntime-gpu |
| `onnx-int8` | `model-int8.onnx` (static QDQ int8) | ONNX Runtime: CPU (its int8 kernels), or CUDA |

The device is `cpu`, `cuda`, or `auto` (CUDA when torch sees a device); it is decided when the engine
loads, and `describe()` says what was chosen and why. ONNX Runtime is imported only by its engines, so the
torch engines run where it is not installed (AWS's PyTorch inference containers); torch is imported only by
the torch engines and by `auto`/`cuda` device resolution, so the ONNX engines on `cpu` run where torch is not
installed (the lean Lambda package, `lambdas/image_classifier`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pytorch_container import artifact
from pytorch_container.artifact import ArtifactError, ModelMetadata

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger(__name__)
ENGINES = ("eager", "exported", "onnx", "onnx-int8")
ENGINE_FILES = {
    "eager": artifact.WEIGHTS_FILE,
    "exported": artifact.EXPORTED_FILE,
    "onnx": artifact.ONNX_FILE,
    "onnx-int8": artifact.ONNX_INT8_FILE,
}
DEVICES = ("auto", "cpu", "cuda")


class Engine(Protocol):
    """Runs the network: `run(batch)` maps a normalized float32 N x C x H x W array to N x classes logits."""

    name: str
    device: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits of `batch`, as a float32 numpy array."""
        ...


def resolve_device(requested: str) -> tuple[str, str]:
    """`cpu` or `cuda` for a requested device, with the reason (for the log)."""
    if requested not in DEVICES:
        raise ValueError(f"device {requested!r} is not one of {list(DEVICES)}")
    if requested == "cpu":
        return "cpu", "device cpu requested"
    try:
        import torch
    except ModuleNotFoundError:
        if requested == "cuda":
            raise ValueError("device cuda requested but torch is not installed") from None
        return "cpu", "torch is not installed (ONNX engines only)"
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise ValueError("device cuda requested but torch sees no CUDA device")
    if available:
        return "cuda", f"{torch.cuda.device_count()} CUDA device(s) visible" + (
            ", device cuda requested" if requested == "cuda" else ""
        )
    return "cpu", "no CUDA device visible to torch"


class TorchEngine:
    """A torch module (eager network or `torch.export` program) in inference mode."""

    def __init__(self, name: str, module: torch.nn.Module, device: str) -> None:
        import torch

        self.name = name
        self.device = device
        self._device = torch.device(device)
        self._module = module.to(self._device)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits of `batch`."""
        import torch  # already imported by __init__: a dictionary look-up

        with torch.inference_mode():
            logits = self._module(torch.from_numpy(batch).to(self._device, non_blocking=True))
        result: np.ndarray = logits.float().cpu().numpy()
        return result


class OnnxEngine:
    """An ONNX model in an ONNX Runtime session (all graph optimizations, sequential execution)."""

    def __init__(self, name: str, path: Path, metadata: ModelMetadata, device: str, threads: int) -> None:
        import onnxruntime as ort  # only the ONNX engines need ONNX Runtime

        self.name = name
        self.device = device
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError("the ONNX engines on cuda need onnxruntime-gpu (CUDAExecutionProvider is missing)")
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        if device == "cuda" and self._session.get_providers()[0] != "CUDAExecutionProvider":
            # ONNX Runtime falls back to the CPU when the CUDA provider's libraries do not load; say so.
            raise ValueError("ONNX Runtime could not load its CUDA execution provider (its log says why)")
        self._input = metadata.input_name

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits of `batch`."""
        outputs: list[Any] = self._session.run(None, {self._input: batch})
        return np.asarray(outputs[0], dtype=np.float32)


def load(model_dir: Path, metadata: ModelMetadata, *, engine: str, device: str, threads: int = 1) -> Engine:
    """Load engine `engine` of the artifact in `model_dir` on `device` (`cpu` or `cuda`, already resolved)."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {list(ENGINES)}")
    path = model_dir / ENGINE_FILES[engine]
    if not path.is_file():
        raise ArtifactError(f"engine {engine} needs {path}, which the model directory does not have")
    if engine.startswith("onnx"):
        return OnnxEngine(engine, path, metadata, device, threads)
    import torch

    from pytorch_container import networks  # torch networks: only the torch engines need them

    torch.set_num_threads(threads)
    if engine == "exported":
        return TorchEngine(engine, torch.export.load(path).module(), device)
    network = networks.build(metadata.arch, channels=metadata.preprocessing.channels, classes=len(metadata.class_names))
    try:
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, KeyError) as error:
        raise ArtifactError(f"{path} does not fit a {metadata.arch} network of {model_dir}: {error}") from None
    return TorchEngine(engine, network.eval(), device)
