"""Request decoding and response encoding of the model server, as plain functions.

Requests carry feature rows only (no label, no header), many rows per request:

- `text/csv`: one row per line, values separated by commas. An empty value or `nan` is a missing
  value (XGBoost's own handling of missing data applies).
- `application/json`: `{"instances": [[...], ...]}`, a list of rows `[[...], ...]`, or one row
  `[...]`. `null` is a missing value.

Responses hold one prediction per row, in the format the `Accept` header asks for (the request's
own format when it names none):

- `text/csv`: one line per row (the outputs of a multi-output model comma-separated on the line).
- `application/json`: `{"predictions": [...]}`, one number (or one list) per row.

Every problem with a request raises `RequestError` carrying the HTTP status and a message that
names the offending value, row and column, so a client can fix its request.
"""

from __future__ import annotations

import json
import math

import numpy as np

CSV = "text/csv"
JSON = "application/json"
SUPPORTED_TYPES = (CSV, JSON)


class RequestError(Exception):
    """A client error: the HTTP status to answer with and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(header: str | None) -> str:
    """The bare media type of a `Content-Type` value, lower case (`text/csv; charset=utf-8` -> `text/csv`)."""
    return (header or "").split(";", 1)[0].strip().lower()


def negotiate(accept: str | None, request_type: str) -> str:
    """Pick the response media type from an `Accept` header.

    No header, an empty one, or `*/*` answers in the request's own format. Otherwise the supported
    type with the highest `q` wins (ties go to the one listed first); `text/*` and
    `application/*` match the supported type of that family.
    """
    if not accept or not accept.strip():
        return request_type
    ranked = []
    for position, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        quality = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    raise RequestError(
                        400, f"Accept header has a non-numeric quality value {value!r} in {item.strip()!r}"
                    ) from None
        ranked.append((-quality, position, parts[0].lower()))
    for neg_quality, _, wanted in sorted(ranked):
        if neg_quality == 0:  # q=0 means "not acceptable"
            continue
        if wanted == "*/*":
            return request_type
        for supported in SUPPORTED_TYPES:
            if wanted == supported or (wanted.endswith("/*") and supported.startswith(wanted[:-1])):
                return supported
    raise RequestError(406, f"cannot answer in any type of Accept {accept!r}; supported: {', '.join(SUPPORTED_TYPES)}")


def decode(body: bytes, content_type: str | None, num_features: int) -> np.ndarray:
    """Decode a request body into a float32 matrix of shape (rows, `num_features`).

    Raises `RequestError` with 415 for an unsupported content type and 400 for an empty body,
    a malformed row, a non-numeric value or a wrong number of features.
    """
    kind = media_type(content_type)
    if kind not in SUPPORTED_TYPES:
        raise RequestError(415, f"unsupported Content-Type {content_type!r}; send one of: {', '.join(SUPPORTED_TYPES)}")
    if not body.strip():
        raise RequestError(400, "empty request body: send at least one row of features")
    rows = _decode_csv(body) if kind == CSV else _decode_json(body)
    if rows.shape[1] != num_features:
        raise RequestError(
            400, f"each row must have {num_features} features (the model's feature count), got {rows.shape[1]}"
        )
    return rows


def _decode_csv(body: bytes) -> np.ndarray:
    """Parse CSV rows; numpy's C parser handles the common case, `_decode_csv_slowly` the rest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(400, f"CSV body is not UTF-8 text (byte {error.start})") from None
    lines = text.splitlines()
    try:
        return np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2, comments=None)
    except ValueError:
        return _decode_csv_slowly(lines)


def _decode_csv_slowly(lines: list[str]) -> np.ndarray:
    """Parse CSV rows value by value: empty values become missing, bad values get a precise error."""
    rows: list[list[float]] = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = []
        for column, raw in enumerate(line.split(","), start=1):
            value = raw.strip()
            if not value:
                row.append(math.nan)
                continue
            try:
                row.append(float(value))
            except ValueError:
                raise RequestError(
                    400, f"non-numeric value {value!r} at line {line_number}, column {column} of the CSV body"
                ) from None
        if rows and len(row) != len(rows[0]):
            raise RequestError(
                400, f"line {line_number} of the CSV body has {len(row)} values, the first row has {len(rows[0])}"
            )
        rows.append(row)
    return np.asarray(rows, dtype=np.float32)


def _decode_json(body: bytes) -> np.ndarray:
    """Parse JSON rows; numpy converts a well-formed matrix at once, `_decode_json_slowly` explains the rest."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestError(400, f"body is not valid JSON: {error}") from None
    rows = document.get("instances") if isinstance(document, dict) else document
    if not isinstance(rows, list) or not rows:
        raise RequestError(
            400, 'JSON body must be {"instances": [[...], ...]}, a non-empty list of rows, or one row [...]'
        )
    if not isinstance(rows[0], list):
        rows = [rows]
    if b"true" in body or b"false" in body:  # numpy would silently turn booleans into 1 and 0
        return _decode_json_slowly(rows)
    try:
        matrix = np.array(rows)
    except ValueError:
        matrix = None  # ragged rows: the slow path names the first one that differs
    if matrix is not None and matrix.ndim == 2 and matrix.dtype.kind in "fiu":
        return matrix.astype(np.float32)
    return _decode_json_slowly(rows)


def _decode_json_slowly(rows: list) -> np.ndarray:
    """Check JSON rows value by value: `null` becomes missing, anything else non-numeric is an error."""
    width = None
    matrix = []
    for row_number, row in enumerate(rows, start=1):
        if not isinstance(row, list):
            raise RequestError(400, f"row {row_number} of the JSON body is {json.dumps(row)}, not a list of numbers")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise RequestError(
                400, f"row {row_number} of the JSON body has {len(row)} values, the first row has {width}"
            )
        values = []
        for column, value in enumerate(row, start=1):
            if value is None:
                values.append(math.nan)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values.append(float(value))
            else:
                raise RequestError(
                    400, f"non-numeric value {json.dumps(value)} at row {row_number}, column {column} of the JSON body"
                )
        matrix.append(values)
    return np.asarray(matrix, dtype=np.float32)


def encode(predictions: np.ndarray, accept_type: str) -> bytes:
    """Encode predictions (one entry, or one row of outputs, per input row) as `accept_type`."""
    values = predictions.tolist()
    if accept_type == JSON:
        return json.dumps({"predictions": values}).encode()
    if predictions.ndim == 1:
        return ("\n".join(map(repr, values)) + "\n").encode()
    return ("\n".join(",".join(map(repr, row)) for row in values) + "\n").encode()
