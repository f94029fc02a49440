"""Training data: an image folder (`<class>/<image>.png|jpg`) for users' own data, scikit-learn's digits by default.

Channels (directories under `input/data/`): `train` (required for an image folder), `validation` and
`test` (optional, same layout, classes a subset of the training classes). Without a `train` channel the job
trains on scikit-learn's handwritten digits (1,797 8x8 images of 10 classes, shipped inside the package)
with the split of scikit-learn's own digits example: the first 898 images train, the other 899 test, so
that different writers are in each half.
"""

from __future__ import annotations

import gzip
import importlib.util
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pytorch_container import images
from pytorch_container.errors import InvalidInput, TrainingError
from pytorch_container.images import Preprocessing

TRAIN, VALIDATION, TEST = "train", "validation", "test"
DIGITS_TRAIN_SIZE = 898
DIGITS_IMAGE_SIZE = 8
FOLDER_IMAGE_SIZE = 28  # the seeds' doodles (Quick, Draw!) are 28x28


class LabelledImages(Dataset[tuple[torch.Tensor, int]]):
    """Images and labels; each item is the normalized C x H x W tensor and the class index."""

    def __init__(self, preprocessing: Preprocessing, labels: Sequence[int] | np.ndarray, description: str) -> None:
        self.preprocessing = preprocessing
        self.labels = np.asarray(labels, dtype=np.int64)
        self.description = description

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def pixels(self, index: int) -> np.ndarray:
        """The `uint8` image at `index`, at the model's size and color mode."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        batch = images.to_batch([self.pixels(index)], self.preprocessing)
        return torch.from_numpy(batch[0]), int(self.labels[index])

    def arrays(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Normalized N x C x H x W inputs and labels of `indices` (calibration, evaluation)."""
        return images.to_batch([self.pixels(i) for i in indices], self.preprocessing), self.labels[list(indices)]

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The whole set in order, `batch_size` images at a time."""
        for start in range(0, len(self), batch_size):
            yield self.arrays(range(start, min(start + batch_size, len(self))))


class InMemoryImages(LabelledImages):
    """Decoded `uint8` images held in memory (the digits)."""

    def __init__(
        self, pixels: np.ndarray, labels: Sequence[int] | np.ndarray, preprocessing: Preprocessing, description: str
    ) -> None:
        super().__init__(preprocessing, labels, description)
        self._pixels = pixels

    def pixels(self, index: int) -> np.ndarray:
        image: np.ndarray = self._pixels[index]
        return image


class FolderImages(LabelledImages):
    """Image files decoded on access, so that a data set larger than memory trains."""

    def __init__(
        self, paths: Sequence[Path], labels: Sequence[int], preprocessing: Preprocessing, description: str
    ) -> None:
        super().__init__(preprocessing, labels, description)
        self.paths = list(paths)

    def pixels(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            return images.read_file(path, self.preprocessing)
        except InvalidInput as error:
            raise TrainingError(f"training image {path}: {error.message}") from None


@dataclass(frozen=True)
class DataSplits:
    """What a training job learns from and is measured on."""

    class_names: list[str]
    preprocessing: Preprocessing
    train: LabelledImages
    validation: LabelledImages | None
    test: LabelledImages | None
    source: str


def load(input_data: Path, *, image_size: int, color_mode: str) -> DataSplits:
    """The job's data: the image-folder channels when `train` is present, the digits otherwise."""
    channels = {name: input_data / name for name in (TRAIN, VALIDATION, TEST) if (input_data / name).is_dir()}
    if TRAIN not in channels:
        if channels:
            raise TrainingError(
                f"channel(s) {sorted(channels)} given without a '{TRAIN}' channel; give '{TRAIN}' too, "
                "or none to train on the built-in digits"
            )
        return digits(image_size=image_size, color_mode=color_mode)
    preprocessing = Preprocessing(image_size or FOLDER_IMAGE_SIZE, color_mode)
    train_files = scan_folder(channels[TRAIN])
    class_names = sorted(train_files)
    empty = [name for name in class_names if not train_files[name]]
    if len(class_names) < 2 or empty:
        raise TrainingError(
            f"channel '{TRAIN}' ({channels[TRAIN]}) needs at least 2 class directories with images; "
            f"found {len(class_names)} ({', '.join(empty) + ' empty' if empty else 'none empty'})"
        )
    splits = {
        name: _folder_dataset(name, scan_folder(directory), class_names, preprocessing)
        for name, directory in channels.items()
    }
    return DataSplits(
        class_names,
        preprocessing,
        splits[TRAIN],
        splits.get(VALIDATION),
        splits.get(TEST),
        f"image folder {channels[TRAIN]}",
    )


def scan_folder(directory: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files under `<directory>/<class>/` (hidden entries ignored).

    A file outside a class directory or with a suffix other than `.png`, `.jpg`, `.jpeg` fails the job:
    training silently without part of the data is worse than stopping.
    """
    found: dict[str, list[Path]] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            raise TrainingError(f"{entry} is not in a class directory; lay images out as <class>/<image>.png")
        files = sorted(
            path
            for path in entry.rglob("*")
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(entry).parts)
        )
        unreadable = [path for path in files if path.suffix.lower() not in images.IMAGE_SUFFIXES]
        if unreadable:
            raise TrainingError(
                f"{unreadable[0]} is not an image this job reads ({len(unreadable)} such file(s)); "
                f"expected suffixes: {', '.join(images.IMAGE_SUFFIXES)}"
            )
        found[entry.name] = files
    return found


def _folder_dataset(
    channel: str, files: dict[str, list[Path]], class_names: list[str], preprocessing: Preprocessing
) -> FolderImages:
    """One channel's files as a data set; classes unknown to the training channel fail the job."""
    unknown = sorted(set(files) - set(class_names))
    if unknown:
        raise TrainingError(f"channel '{channel}' has classes {unknown} that the '{TRAIN}' channel does not have")
    paths = [path for name in class_names for path in files.get(name, [])]
    labels = [index for index, name in enumerate(class_names) for _ in files.get(name, [])]
    if not paths:
        raise TrainingError(f"channel '{channel}' holds no image")
    return FolderImages(paths, labels, preprocessing, f"{channel}: {len(paths)} images")


def digits_pixels() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as `uint8` 8x8 images (ink bright on dark, 0..16 scaled to 0..255) and labels.

    Read from the CSV file scikit-learn ships (`sklearn/datasets/data/digits.csv.gz`: 64 pixel values and
    the label per row, what `load_digits` reads) without importing scikit-learn, which takes seconds.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise TrainingError("the default data set needs scikit-learn, which is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    pixels = np.rint(table[:, :64].reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.uint8)
    return pixels, table[:, 64].astype(np.int64)


def digits(*, image_size: int, color_mode: str) -> DataSplits:
    """The default data: the digits, split as scikit-learn's example does (first 898 train, 899 test)."""
    preprocessing = Preprocessing(image_size or DIGITS_IMAGE_SIZE, color_mode)
    pixels, labels = digits_pixels()
    if preprocessing.input_shape != (1, DIGITS_IMAGE_SIZE, DIGITS_IMAGE_SIZE):
        from PIL import Image

        pixels = np.stack([images.fit(Image.fromarray(image), preprocessing) for image in pixels])
    class_names = [str(digit) for digit in range(10)]
    cut = DIGITS_TRAIN_SIZE
    return DataSplits(
        class_names,
        preprocessing,
        InMemoryImages(pixels[:cut], labels[:cut], preprocessing, f"digits train: {cut} images"),
        None,
        InMemoryImages(pixels[cut:], labels[cut:], preprocessing, f"digits test: {len(labels) - cut} images"),
        "scikit-learn digits (no 'train' channel)",
    )


def write_folder(directory: Path, pixels: np.ndarray, labels: Sequence[int], class_names: Sequence[str]) -> None:
    """Write images as `<directory>/<class>/<index>.png` (the layout `load` reads)."""
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        target = directory / class_names[int(label)] / f"{index:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(images.encode_png(image))
