"""Abalone-shaped data for runs without the UCI file.

The lifecycle reads `../shared/data/abalone-dataset.csv` (UCI Abalone, CC BY 4.0). Where it is
absent, download it from the UCI repository (https://archive.ics.uci.edu/dataset/1/abalone,
file `abalone.data`, same layout) or let the lifecycle generate rows with this module: the same
nine columns, with ring counts driven by the shell weight as in the real data, so the pipeline
and its MSE condition behave realistically.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path


def write_sample(path: Path, *, rows: int = 1500, seed: int = 7) -> Path:
    """Write `rows` abalone-like rows (no header) to `path`."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for _ in range(rows):
            sex = rng.choice("MFI")
            length = rng.uniform(0.2, 0.75)
            diameter = length * rng.uniform(0.75, 0.82)
            height = length * rng.uniform(0.3, 0.36)
            whole = 2.5 * length**3 * rng.uniform(0.9, 1.1) * 4
            shucked, viscera, shell = whole * 0.43, whole * 0.22, whole * 0.29
            rings = max(1, min(29, round(3 + 22 * shell + (1.5 if sex != "I" else 0) + rng.gauss(0, 2))))
            writer.writerow(
                [sex, *(f"{v:.4f}" for v in (length, diameter, height, whole, shucked, viscera, shell)), rings]
            )
    return path


def subsample(source: Path, target: Path, *, rows: int, seed: int = 7) -> Path:
    """Copy a seeded random subset of `rows` lines of `source` to `target`."""
    lines = source.read_text().splitlines()
    chosen = sorted(random.Random(seed).sample(range(len(lines)), min(rows, len(lines))))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines[i] for i in chosen) + "\n")
    return target
