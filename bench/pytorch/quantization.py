"""In-process measurement of the PyTorch image's engines and int8 variants (`make bench-pytorch-quantization`).

Measures, on this machine's CPU, one intra-op thread, one image per call (what a model-server worker does):

- the shipped digits classifier (the training entrypoint's default job: `cnn`, 8x8, trained here);
- a ResNet-18 trained on the digits at 16x16 (the architecture's int8 accuracy drop);
- a ResNet-18 at 224x224x3, weights as initialized (the compute-bound case of the serving benchmark; its
  speed does not depend on the weights, its accuracy is not measured).

Each network is exported to ONNX fp32 and quantized six ways: the shipped static QDQ int8 (per-channel
7-bit weights, uint8 activations, min/max calibration on training images:
`pytorch_container.export.quantize_int8`), the same with 8-bit weights, with int8 activations, per-tensor,
and ONNX Runtime's dynamic quantization with int8 and uint8 weights. Latencies are medians over rounds
that alternate the engines, so that load from other processes falls on all of them alike. Last lines:
`int8_speedup_vs_fp32=<onnx fp32 / shipped int8 latency, ResNet-18 224>` and
`int8_accuracy_drop_pts=<shipped digits model>`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after OMP_NUM_THREADS: the thread pools read it on import)
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402

from pytorch_container import artifact, data, engines, export, networks, paths, train  # noqa: E402
from pytorch_container.images import Preprocessing  # noqa: E402

SHIPPED = "int8 static QDQ per-channel u8s8 7-bit (shipped)"


def variants(fp32: Path, calibration: np.ndarray, directory: Path) -> dict[str, Path]:
    """ONNX fp32 and each int8 variant of it, written into `directory`."""
    prepared = directory / "prepared.onnx"
    quant_pre_process(str(fp32), str(prepared))
    made = {"onnx fp32": fp32}
    export.quantize_int8(fp32, directory / "shipped.onnx", calibration)
    made[SHIPPED] = directory / "shipped.onnx"
    for name, options in {
        "int8 static QDQ per-channel u8s8 8-bit": {"per_channel": True, "activation_type": QuantType.QUInt8},
        "int8 static QDQ per-channel s8s8": {"per_channel": True, "activation_type": QuantType.QInt8},
        "int8 static QDQ per-tensor u8s8": {"per_channel": False, "activation_type": QuantType.QUInt8},
    }.items():
        path = directory / f"{name.replace(' ', '_')}.onnx"
        quantize_static(
            str(prepared),
            str(path),
            export._Batches(calibration),
            quant_format=QuantFormat.QDQ,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            **options,
        )
        made[name] = path
    for name, weight_type in {"int8 dynamic QInt8": QuantType.QInt8, "int8 dynamic QUInt8": QuantType.QUInt8}.items():
        path = directory / f"{name.replace(' ', '_')}.onnx"
        quantize_dynamic(str(prepared), str(path), weight_type=weight_type)
        made[name] = path
    return made


def session(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX Runtime session as the predictor's engine configures it (one thread, all optimizations)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    runner = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda batch: runner.run(None, {artifact.INPUT_NAME: batch})[0]


def torch_runner(module: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).numpy()

    return run


def latencies(runners: dict[str, Callable], sample: np.ndarray, rounds: int, seconds: float) -> dict[str, float]:
    """Median milliseconds per call of each runner over `rounds` alternating rounds of about `seconds`."""
    per_round: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        for _ in range(3):
            run(sample)
    for _ in range(rounds):
        for name, run in runners.items():
            calls, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
                run(sample)
                calls += 1
            per_round[name].append(1000 * elapsed / calls)
    return {name: statistics.median(values) for name, values in per_round.items()}


def accuracy(run: Callable, dataset: data.LabelledImages) -> float:
    correct = sum(int((np.argmax(run(x), axis=1) == y).sum()) for x, y in dataset.batches(64))
    return correct / len(dataset)


def trained(job_root: Path, hyperparameters: dict[str, str]) -> tuple[Path, torch.nn.Module]:
    """Train with the image's entrypoint; its model directory and eager network."""
    (job_root / "input" / "config").mkdir(parents=True)
    (job_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    os.environ["SM_ML_ROOT"] = str(job_root)
    if train.main() != 0:
        sys.exit(f"training failed: {paths.resolve().failure.read_text()}")
    model_dir = job_root / "model"
    metadata = artifact.read_metadata(model_dir)
    engine = engines.load(model_dir, metadata, engine="eager", device="cpu")
    return model_dir, engine._module  # the network the eager engine runs


def measure(
    label: str,
    network: torch.nn.Module,
    preprocessing: Preprocessing,
    calibration: np.ndarray,
    test: data.LabelledImages | None,
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    """Latency (and accuracy with a test set) of eager, torch.export, ONNX fp32 and every int8 variant."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        example = torch.zeros((2, *preprocessing.input_shape))
        network = network.eval()
        export.export_program(network, example, directory / "model.pt2")
        export.export_onnx(network, example, directory / "model.onnx")
        runners: dict[str, Callable] = {
            "torch eager": torch_runner(network),
            "torch.export": torch_runner(torch.export.load(directory / "model.pt2").module()),
        }
        files = variants(directory / "model.onnx", calibration, directory)
        runners.update({name: session(path) for name, path in files.items()})
        sample = calibration[:1]
        timing = latencies(runners, sample, args.rounds, args.seconds)
        results: dict[str, dict[str, float]] = {}
        for name, run in runners.items():
            row = {"ms": timing[name]}
            if name in files:
                row["mb"] = files[name].stat().st_size / 1e6
            if test is not None:
                row["accuracy"] = accuracy(run, test)
            results[name] = row
    base = results["onnx fp32"]
    print(f"\n{label}")
    print(f"{'engine':50} {'ms/image':>9} {'vs fp32':>8} {'MB':>7} {'test acc':>9} {'drop pts':>9}")
    for name, row in results.items():
        drop = f"{100 * (base['accuracy'] - row['accuracy']):9.2f}" if "accuracy" in row else f"{'-':>9}"
        acc = f"{row['accuracy']:9.4f}" if "accuracy" in row else f"{'-':>9}"
        size = f"{row['mb']:7.2f}" if "mb" in row else f"{'-':>7}"
        print(f"{name:50} {row['ms']:9.3f} {base['ms'] / row['ms']:7.2f}x {size} {acc} {drop}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (median counts)")
    parser.add_argument("--seconds", type=float, default=0.5, help="seconds each engine runs per round")
    parser.add_argument("--resnet-epochs", type=int, default=12, help="epochs of the 16x16 ResNet-18 run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, 1 thread, batch 1, {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        digits_dir, digits_net = trained(Path(scratch) / "digits", {})
        print(f"digits cnn trained and exported in {time.monotonic() - started:.1f} s")
        splits = data.digits(image_size=0, color_mode="grayscale")
        calibration, _ = splits.train.arrays(range(256))
        shipped = measure(
            "digits cnn 1x8x8 (the default job)", digits_net, splits.preprocessing, calibration, splits.test, args
        )

        started = time.monotonic()
        resnet_settings = {"arch": "resnet18", "image_size": "16", "epochs": str(args.resnet_epochs)}
        _, resnet_net = trained(Path(scratch) / "resnet16", resnet_settings)
        print(f"\nresnet18 16x16 trained in {time.monotonic() - started:.1f} s")
        splits16 = data.digits(image_size=16, color_mode="grayscale")
        calibration16, _ = splits16.train.arrays(range(256))
        measure(
            "resnet18 1x16x16 (trained on the digits)",
            resnet_net,
            splits16.preprocessing,
            calibration16,
            splits16.test,
            args,
        )

    big = Preprocessing(224, "rgb")
    splits224 = data.digits(image_size=224, color_mode="rgb")
    calibration224, _ = splits224.train.arrays(range(64))
    torch.manual_seed(0)
    resnet224 = networks.build("resnet18", channels=3, classes=10)
    heavy = measure("resnet18 3x224x224 (initial weights: speed only)", resnet224, big, calibration224, None, args)

    speedup = heavy["onnx fp32"]["ms"] / heavy[SHIPPED]["ms"]
    digits_speedup = shipped["onnx fp32"]["ms"] / shipped[SHIPPED]["ms"]
    drop = 100 * (shipped["onnx fp32"]["accuracy"] - shipped[SHIPPED]["accuracy"])
    print(f"\ndigits cnn: int8 {digits_speedup:.2f}x fp32 speed, {drop:.2f} points of accuracy lost")
    print(f"int8_speedup_vs_fp32={speedup:.2f}")
    print(f"int8_accuracy_drop_pts={drop:.2f}")


if __name__ == "__main__":
    main()
