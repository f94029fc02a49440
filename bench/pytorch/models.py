"""The models and requests of the PyTorch serving benchmark (run in `.venv-pytorch` by `bench.py`).

    python bench/pytorch/models.py WORKDIR

Writes into WORKDIR:

- `digits/model`: the training entrypoint's default job (the `cnn` on scikit-learn's digits, 8x8, trained
  here with the image's own code, as SageMaker would run it);
- `resnet18-224/model`: a ResNet-18 at 224x224x3 packaged by the same `export.write_model` (every engine's
  file), with initial weights: the compute-bound case, whose speed does not depend on the weights;
- `digits/test/<index>.png` and `resnet18-224/test/<index>.png`: the digits' test split as the requests,
  8x8 grayscale PNGs and the same images enlarged (bilinear) to 224x224 RGB PNGs;
- `cases.json`: per case its model directory, test images, labels and class names.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from pytorch_container import artifact, data, engines, export, images, networks, paths, train  # noqa: E402

RESNET_SIZE = 224


def train_digits(job: Path) -> Path:
    """The default training job (no channel, no hyperparameter) into `job`; its model directory."""
    (job / "input" / "config").mkdir(parents=True, exist_ok=True)
    os.environ["SM_ML_ROOT"] = str(job)
    if train.main() != 0:
        sys.exit(f"training failed: {paths.resolve().failure.read_text()}")
    return job / "model"


def resnet_model(model_dir: Path, calibration_pixels: np.ndarray) -> None:
    """ResNet-18 at 224x224 RGB with initial weights, packaged like a trained model."""
    preprocessing = images.Preprocessing(RESNET_SIZE, "rgb")
    torch.manual_seed(0)
    network = networks.build("resnet18", channels=3, classes=10)
    metadata = artifact.ModelMetadata(
        arch="resnet18",
        class_names=[str(digit) for digit in range(10)],
        preprocessing=preprocessing,
        files=dict(engines.ENGINE_FILES),
    )
    calibration = images.to_batch([enlarge(pixels) for pixels in calibration_pixels], preprocessing)
    export.write_model(network, metadata, calibration, model_dir)


def enlarge(pixels: np.ndarray) -> np.ndarray:
    """An 8x8 grayscale digit as a 224x224 RGB image."""
    big = Image.fromarray(pixels).convert("RGB").resize((RESNET_SIZE, RESNET_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(big, dtype=np.uint8)


def main() -> None:
    workdir = Path(sys.argv[1])
    torch.set_num_threads(1)
    pixels, labels = data.digits_pixels()
    train_pixels = pixels[: data.DIGITS_TRAIN_SIZE]
    test_pixels, test_labels = pixels[data.DIGITS_TRAIN_SIZE :], labels[data.DIGITS_TRAIN_SIZE :]
    cases = {}
    for name, model_dir, encode in (
        ("digits", workdir / "digits" / "model", images.encode_png),
        ("resnet18-224", workdir / "resnet18-224" / "model", lambda p: images.encode_png(enlarge(p))),
    ):
        if name == "digits":
            model_dir = train_digits(workdir / "digits")
        else:
            resnet_model(model_dir, train_pixels[:64])
        test_dir = model_dir.parent / "test"
        test_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for index, image in enumerate(test_pixels):
            path = test_dir / f"{index:04d}.png"
            path.write_bytes(encode(image))
            files.append(str(path))
        metadata = artifact.read_metadata(model_dir)
        cases[name] = {
            "model_dir": str(model_dir),
            "images": files,
            "labels": [int(label) for label in test_labels],
            "class_names": metadata.class_names,
            "trained": name == "digits",
        }
    (workdir / "cases.json").write_text(json.dumps(cases))


if __name__ == "__main__":
    main()
