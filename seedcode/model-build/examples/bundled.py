"""The bundled example data sets: scikit-learn's own copies of three classic tabular data sets.

    python -m examples.bundled    # rewrite examples/*/data.csv from the installed scikit-learn

Each example directory holds `data.csv` and a complete `config.json`; copying that file over
`pipelines/abalone/config.json` (and uploading `data.csv` to the `input_data` location) is all it
takes to train, evaluate, gate and register on it. They differ from Abalone on purpose: the label
sits in another column and the feature count differs.

- `diabetes/` (regression): scikit-learn's diabetes data (442 rows), unscaled; the label
  `progression` is the first column, with a header row; `sex` is categorical.
- `breast_cancer/` (binary classification): the Wisconsin diagnostic data (569 rows, 30 features);
  the label `diagnosis` (`benign` / `malignant`) is the first column, with a header row.
- `wine/` (multiclass classification): the wine recognition data (178 rows, 13 features, three
  cultivars); the label `cultivar` is the eighth of 14 columns, without a header row.

The CSV files are generated from the installed scikit-learn (which ships these data sets), so a
test can check that the bundled files are exactly what it holds; nothing is downloaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from sklearn import datasets

HERE = Path(__file__).resolve().parent
WINE_LABEL_POSITION = 7


def _number(value: float) -> str:
    return f"{value:.10g}"


def diabetes() -> list[list[str]]:
    """Label first, header row; `sex` written as the category it is (1 or 2)."""
    data = datasets.load_diabetes(scaled=False)
    header = ["progression", *data.feature_names]
    rows = [
        [_number(target), *(_number(value) for value in row)]
        for row, target in zip(data.data, data.target, strict=True)
    ]
    return [header, *rows]


def breast_cancer() -> list[list[str]]:
    """Label (`benign` / `malignant`) first, header row."""
    data = datasets.load_breast_cancer()
    header = ["diagnosis", *(name.replace(" ", "_") for name in data.feature_names)]
    rows = [
        [str(data.target_names[target]), *(_number(value) for value in row)]
        for row, target in zip(data.data, data.target, strict=True)
    ]
    return [header, *rows]


def wine() -> list[list[str]]:
    """Label (`class_0`, `class_1`, `class_2`) in the middle, no header row."""
    data = datasets.load_wine()
    rows = []
    for row, target in zip(data.data, data.target, strict=True):
        values = [_number(value) for value in row]
        values.insert(WINE_LABEL_POSITION, str(data.target_names[target]))
        rows.append(values)
    return rows


EXAMPLES: dict[str, Callable[[], list[list[str]]]] = {
    "diabetes": diabetes,
    "breast_cancer": breast_cancer,
    "wine": wine,
}


def render(rows: list[list[str]]) -> str:
    """CSV text of `rows` (Unix line ends)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def main() -> int:
    """Rewrite every example's data.csv."""
    for name, rows in EXAMPLES.items():
        path = HERE / name / "data.csv"
        path.parent.mkdir(exist_ok=True)
        lines = rows()
        path.write_text(render(lines))
        print(f"wrote {path} ({len(lines)} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
