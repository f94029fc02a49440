"""Training data: the digits split, and image folders read exactly as written, with bad layouts named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytorch_container import data
from pytorch_container.errors import TrainingError


def test_the_digits_split_is_scikit_learns_example_split() -> None:
    splits = data.digits(image_size=0, color_mode="grayscale")
    assert (len(splits.train), len(splits.test), splits.validation) == (898, 899, None)
    assert splits.class_names == [str(d) for d in range(10)]
    pixels, labels = data.digits_pixels()
    assert pixels.shape == (1797, 8, 8) and pixels.dtype == np.uint8 and pixels.max() == 255
    from sklearn.datasets import load_digits

    reference = load_digits()  # the file read directly is the data set scikit-learn itself loads
    assert np.array_equal(labels, reference.target)
    assert np.array_equal(pixels, np.rint(reference.images * (255 / 16)).astype(np.uint8))
    assert np.array_equal(splits.test.arrays([0])[1], labels[898:899])


def test_an_image_folder_reads_back_the_pixels_and_labels_written(tmp_path: Path) -> None:
    pixels, labels = data.digits_pixels()
    names = [str(d) for d in range(10)]
    data.write_folder(tmp_path / "train", pixels[:60], labels[:60], names)
    data.write_folder(tmp_path / "test", pixels[60:90], labels[60:90], names)
    splits = data.load(tmp_path, image_size=8, color_mode="grayscale")
    assert splits.class_names == sorted(set(names[label] for label in labels[:60]))
    assert splits.test is not None and len(splits.test) == 30
    batch, got = splits.train.arrays(range(len(splits.train)))
    expected = data.digits(image_size=0, color_mode="grayscale").train
    order = np.argsort(labels[:60], kind="stable")  # the folder lists images class by class
    want, want_labels = expected.arrays(order.tolist())
    assert np.array_equal(got, want_labels) and np.array_equal(batch, want)


def test_folder_images_are_resized_and_converted_to_the_model_input(tmp_path: Path) -> None:
    for name, color in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
        (tmp_path / "train" / name).mkdir(parents=True)
        Image.new("RGB", (40, 30), color).save(tmp_path / "train" / name / "a.jpg")
    splits = data.load(tmp_path, image_size=0, color_mode="rgb")
    tensor, label = splits.train[1]
    assert tuple(tensor.shape) == (3, data.FOLDER_IMAGE_SIZE, data.FOLDER_IMAGE_SIZE) and label == 1
    assert tensor[2].mean() > tensor[0].mean()  # the dog is blue


def folder(root: Path, files: dict[str, bytes | None]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
    return root


PNG = data.images.encode_png(np.zeros((8, 8), np.uint8))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"train/a/1.png": PNG, "train/b/1.png": PNG, "train/readme.md": b"x"}, "is not in a class directory"),
        ({"train/a/1.png": PNG, "train/b/notes.txt": b"x"}, r"notes.txt is not an image this job reads"),
        ({"train/a/1.png": PNG}, "needs at least 2 class directories with images; found 1"),
        ({"train/a/1.png": PNG, "train/b/.keep": b""}, r"found 2 \(b empty\)"),
        ({"train/a/1.png": PNG, "train/b/1.png": PNG, "test/c/1.png": PNG}, r"channel 'test' has classes \['c'\]"),
        ({"test/a/1.png": PNG}, r"channel\(s\) \['test'\] given without a 'train' channel"),
    ],
)
def test_a_bad_layout_is_named(tmp_path: Path, files: dict, message: str) -> None:
    folder(tmp_path, files)
    with pytest.raises(TrainingError, match=message):
        data.load(tmp_path, image_size=8, color_mode="grayscale")


def test_hidden_files_are_ignored_and_a_corrupt_image_is_named_when_read(tmp_path: Path) -> None:
    folder(tmp_path, {"train/a/1.png": PNG, "train/a/.DS_Store": b"x", "train/b/1.png": PNG[:20]})
    splits = data.load(tmp_path, image_size=8, color_mode="grayscale")
    assert len(splits.train) == 2
    with pytest.raises(TrainingError, match=r"training image .*b/1.png: the PNG image is truncated or corrupt"):
        splits.train[1]
