"""Prepare step of the image classifier pipeline: check the labelled images and split them.

Runs as a SageMaker Processing job (`python3 prepare.py`) on the platform's PyTorch image and, unchanged,
on a developer machine (`PIPELINE_EXECUTION_MODE=local`). Layout, below `$SM_ML_ROOT` (default `/opt/ml`):

- `processing/input/data/`: the images, `<class>/<image>.png|.jpg|.jpeg` (nested folders below a class
  allowed, hidden files ignored), absent when `input_data` is `digits`;
- `processing/input/config/config.json`: the pipeline configuration (its `input_data` and `dataset`);
- `processing/{train,validation,test}/<class>/<image>`: the split, in the layout the PyTorch image's
  training reads (each class split alike: a seeded shuffle of its files in sorted order, so the same
  images and seed always give the same three sets);
- `output/message`: the reason of a failure (SageMaker shows it as the job's exit message).

With `input_data` = `digits` the images are scikit-learn's handwritten digits (1,797 8x8 images, 10
classes), written as PNGs with ink 0..16 scaled to 0..255. Every image is opened and verified: a file
that is not a PNG or JPEG image, a file outside a class folder or a class with too few images to split
fails the step with its path.

This file is uploaded to the job alone, so it imports nothing from the rest of the repository.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SPLITS = ("train", "validation", "test")
SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
DIGITS = "digits"


class PrepareError(Exception):
    """Images or settings the step cannot use; the message names the file or the setting."""


def digits_images() -> dict[str, list[tuple[str, bytes]]]:
    """scikit-learn's digits as PNG files per class name ("0".."9")."""
    from sklearn.datasets import load_digits  # only this input needs scikit-learn

    digits = load_digits()
    classes: dict[str, list[tuple[str, bytes]]] = {}
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        buffer = io.BytesIO()
        Image.fromarray(np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)).save(buffer, format="PNG")
        classes.setdefault(str(label), []).append((f"{index:04d}.png", buffer.getvalue()))
    return classes


def folder_images(root: Path) -> dict[str, list[tuple[str, bytes]]]:
    """The images below `root` per class (its first-level folder), each checked to be the image its suffix says."""
    classes: dict[str, list[tuple[str, bytes]]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.is_dir():
            continue
        if len(relative.parts) < 2:
            raise PrepareError(f"{relative}: every image must be in a class folder (<class>/<image>)")
        image_format = SUFFIXES.get(path.suffix.lower())
        if image_format is None:
            raise PrepareError(f"{relative}: not a .png, .jpg or .jpeg file")
        content = path.read_bytes()
        try:
            with Image.open(io.BytesIO(content), formats=[image_format]) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise PrepareError(f"{relative}: not a readable {image_format} image ({error})") from None
        classes.setdefault(relative.parts[0], []).append(("/".join(relative.parts[1:]), content))
    if len(classes) < 2:
        raise PrepareError(f"found {len(classes)} class folder(s) with images in the input; a classifier needs 2+")
    return classes


def split_counts(total: int, split: dict[str, float]) -> dict[str, int]:
    """How many of a class's `total` images go to each split (at least one to train and to test)."""
    test = max(1, round(total * split["test"]))
    validation = round(total * split["validation"])
    counts = {"train": total - test - validation, "validation": validation, "test": test}
    if counts["train"] < 1:
        raise PrepareError(f"{total} image(s) cannot be split {split}: train would get none")
    return counts


def split_images(
    classes: dict[str, list[tuple[str, bytes]]], split: dict[str, float], seed: int
) -> dict[str, dict[str, list[tuple[str, bytes]]]]:
    """Each class's images shuffled (seeded) and cut by the fractions: split -> class -> files."""
    rng = np.random.default_rng(seed)
    result: dict[str, dict[str, list[tuple[str, bytes]]]] = {name: {} for name in SPLITS}
    for class_name in sorted(classes):
        files = sorted(classes[class_name])
        try:
            counts = split_counts(len(files), split)
        except PrepareError as error:
            raise PrepareError(f"class {class_name!r}: {error}") from None
        order = rng.permutation(len(files))
        start = 0
        for name in SPLITS:
            chosen = order[start : start + counts[name]]
            start += counts[name]
            if len(chosen):
                result[name][class_name] = [files[i] for i in sorted(chosen)]
    return result


def write_split(base: Path, splits: dict[str, dict[str, list[tuple[str, bytes]]]]) -> dict[str, int]:
    """Write `<base>/<split>/<class>/<file>`; return the image count of each split."""
    counts = {}
    for name, classes in splits.items():
        directory = base / name
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for class_name, files in classes.items():
            for file_name, content in files:
                target = directory / class_name / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        counts[name] = sum(len(files) for files in classes.values())
    return counts


def run(base_dir: Path) -> dict[str, int]:
    """Execute the step below `base_dir` (`processing/`); return the image count of each split."""
    config = json.loads((base_dir / "input" / "config" / "config.json").read_text())
    dataset = config["dataset"]
    if config["input_data"] == DIGITS:
        classes = digits_images()
    else:
        data_dir = base_dir / "input" / "data"
        if not data_dir.is_dir():
            raise PrepareError(f"no input images in {data_dir}")
        classes = folder_images(data_dir)
    return write_split(base_dir, split_images(classes, dataset["split"], int(dataset.get("seed", 0))))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    ml_root = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-dir", type=Path, default=ml_root / "processing")
    args = parser.parse_args(argv)
    try:
        counts = run(args.base_dir)
    except PrepareError as error:
        return _fail(ml_root, f"prepare failed: {error}")
    except Exception as error:  # every failure must reach output/message, without a backtrace
        first_line = (str(error).strip().splitlines() or [""])[0]
        return _fail(ml_root, f"prepare failed with an unexpected error: {type(error).__name__}: {first_line}")
    print("prepare: " + ", ".join(f"{name} {count} images" for name, count in counts.items()))
    return 0


def _fail(ml_root: Path, message: str) -> int:
    """Report `message` on stderr and in `output/message`; return the failing exit status."""
    print(message, file=sys.stderr)
    message_file = ml_root / "output" / "message"
    message_file.parent.mkdir(parents=True, exist_ok=True)
    message_file.write_text(message + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
