"""Request decoding, content negotiation and response encoding of the model server."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from http_serving import HttpError
from xgboost_container.server_codec import CSV, JSON, decode, encode


def error_of(call, *args) -> HttpError:
    with pytest.raises(HttpError) as caught:
        call(*args)
    return caught.value


class TestCsv:
    def test_many_rows_become_a_float32_matrix(self):
        rows = decode(b"1,2,3\n4.5,-5e-1,6\n", "text/csv", 3)
        assert rows.dtype == np.float32
        assert rows.tolist() == [[1, 2, 3], [4.5, -0.5, 6]]

    def test_one_row_without_newline(self):
        assert decode(b"1,2", CSV, 2).shape == (1, 2)

    def test_crlf_spaces_and_blank_lines_are_tolerated(self):
        assert decode(b" 1, 2\r\n\r\n3 ,4\r\n", CSV, 2).tolist() == [[1, 2], [3, 4]]

    def test_a_byte_order_mark_is_ignored(self):
        assert decode(b"\xef\xbb\xbf1,2\n3,4", CSV, 2).tolist() == [[1, 2], [3, 4]]

    def test_infinity_is_refused_with_its_text_and_position(self):
        error = error_of(decode, b"1,2\n\n3,Infinity", CSV, 2)
        assert error.status == 400 and "'Infinity' at row 2, column 2" in error.message

    def test_empty_values_and_nan_are_missing_values(self):
        rows = decode(b"1,,3\nnan,2,\n", CSV, 3)
        assert rows[0, 0] == 1 and math.isnan(rows[0, 1]) and rows[0, 2] == 3
        assert math.isnan(rows[1, 0]) and math.isnan(rows[1, 2])

    def test_non_numeric_value_is_named_with_its_line_and_column(self):
        error = error_of(decode, b"1,2,3\n4,abc,6", CSV, 3)
        assert error.status == 400
        assert "'abc'" in error.message and "line 2" in error.message and "column 2" in error.message

    def test_header_row_is_rejected_as_non_numeric(self):
        error = error_of(decode, b"length,diameter\n1,2", CSV, 2)
        assert error.status == 400 and "'length'" in error.message and "line 1" in error.message

    def test_rows_of_different_lengths_are_rejected(self):
        error = error_of(decode, b"1,2,3\n4,5", CSV, 3)
        assert error.status == 400 and "line 2" in error.message and "2 values" in error.message

    def test_wrong_feature_count_names_both_counts(self):
        error = error_of(decode, b"1,2,3", CSV, 4)
        assert error.status == 400 and "4 features" in error.message and "got 3" in error.message

    def test_label_column_sent_by_mistake_is_a_feature_count_error(self):
        assert "got 5" in error_of(decode, b"9,1,2,3,4", CSV, 4).message

    def test_non_utf8_body_is_rejected(self):
        assert error_of(decode, b"\xff\xfe1,2", CSV, 2).status == 400

    def test_a_huge_number_of_columns_is_a_feature_count_error(self):
        assert "got 100000" in error_of(decode, b",".join([b"1"] * 100000), CSV, 2).message


float32_matrices = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 30), st.integers(1, 12)),
    elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=150, deadline=None)
@given(matrix=float32_matrices, fmt=st.sampled_from(["repr", "g", "e", "int"]), crlf=st.booleans())
def test_plain_number_csv_reads_as_numpy_s_csv_reader_reads_it(matrix, fmt, crlf):
    """The orjson fast path and numpy's CSV reader agree on every body of plain numbers."""
    render = {"repr": lambda v: repr(float(v)), "g": lambda v: f"{v:g}", "e": lambda v: f"{v:.3e}"}
    render["int"] = lambda v: str(int(v)) if abs(v) < 1e15 else f"{v:g}"
    lines = [",".join(render[fmt](v) for v in row) for row in matrix]
    body = ("\r\n" if crlf else "\n").join(lines).encode() + b"\n"
    expected = np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float32, ndmin=2)
    if np.isinf(expected).any():  # rounding the text pushed a value beyond float32
        assert error_of(decode, body, CSV, matrix.shape[1]).status == 400
    else:
        assert np.array_equal(decode(body, CSV, matrix.shape[1]), expected)


class TestCsvFallsBackForWhatIsNotPlainNumbers:
    """What JSON would read but CSV must not (or the other way round) goes through numpy's reader."""

    @pytest.mark.parametrize("token", ["true", "false", "null", "[1]", "{}"])
    def test_json_values_are_not_numbers(self, token):
        error = error_of(decode, f"1,{token}".encode(), CSV, 2)
        assert error.status == 400 and f"non-numeric value {token!r} at line 1, column 2" in error.message

    def test_a_quoted_field_is_read_as_csv_reads_it(self):
        """RFC 4180 quoting (Python's csv module): "1" is the field 1, a quoted comma stays in its field."""
        assert decode(b'1,"2"', CSV, 2).tolist() == [[1, 2]]
        error = error_of(decode, b'1,"2,3"', CSV, 2)
        assert error.status == 400 and "non-numeric value '2,3' at line 1, column 2" in error.message

    @pytest.mark.parametrize(
        ("body", "expected"),
        [(b"1,,2", [[1, math.nan, 2]]), (b"nan,1,2", [[math.nan, 1, 2]]), (b".5,+1,1.", [[0.5, 1, 1]])],
    )
    def test_missing_values_and_number_forms_json_lacks(self, body, expected):
        assert np.array_equal(decode(body, CSV, 3), np.array(expected, dtype=np.float32), equal_nan=True)

    def test_ragged_rows_are_named(self):
        assert "line 2 of the CSV body has 1 values" in error_of(decode, b"1,2\n3", CSV, 2).message


class TestJson:
    def test_instances_object(self):
        assert decode(json.dumps({"instances": [[1, 2], [3, 4.5]]}).encode(), JSON, 2).tolist() == [[1, 2], [3, 4.5]]

    def test_bare_list_of_rows_and_single_row(self):
        assert decode(b"[[1, 2], [3, 4]]", JSON, 2).shape == (2, 2)
        assert decode(b"[1, 2]", JSON, 2).shape == (1, 2)

    def test_null_is_a_missing_value(self):
        rows = decode(b'{"instances": [[1, null]]}', JSON, 2)
        assert rows[0, 0] == 1 and math.isnan(rows[0, 1])

    def test_integers_up_to_64_bits_are_numbers(self):
        assert decode(b"[[18446744073709551615, -9223372036854775808]]", JSON, 2).tolist() == [[2.0**64, -(2.0**63)]]

    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            (b"[[1, 1e39]]", "1e+39 at row 1, column 2"),
            (b"[[1, 1e400]]", "non-finite number in the JSON body"),
            (b"[[1, " + b"9" * 400 + b"]]", "non-finite number in the JSON body"),
            (b"[[1, NaN]]", "not valid JSON"),
            (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
        ],
    )
    def test_non_finite_and_deep_documents_are_400(self, body, fragment):
        error = error_of(decode, body, JSON, 2)
        assert error.status == 400 and fragment in error.message

    def test_a_deeply_nested_value_inside_a_row_is_named_briefly(self):
        error = error_of(decode, b"[[1, " + b"[" * 500 + b"]" * 500 + b"]]", JSON, 2)
        assert "a deeply nested value at row 1, column 2" in error.message

    @pytest.mark.parametrize("value", ['"1.5"', "true", "[1]", '{"a": 1}'])
    def test_non_numbers_are_rejected_with_position(self, value):
        error = error_of(decode, f'{{"instances": [[1, 2], [3, {value}]]}}'.encode(), JSON, 2)
        assert (
            error.status == 400
            and "row 2, column 2" in error.message
            and value.replace(" ", "") in error.message.replace(" ", "")
        )

    def test_ragged_rows_are_rejected(self):
        error = error_of(decode, b"[[1, 2], [3]]", JSON, 2)
        assert error.status == 400 and "row 2 " in error.message and "1 values" in error.message

    def test_row_that_is_not_a_list(self):
        assert "row 2" in error_of(decode, b'[[1, 2], {"f": 1}]', JSON, 2).message

    @pytest.mark.parametrize("body", [b"{", b'{"rows": [[1]]}', b"[]", b'{"instances": []}', b'"text"'])
    def test_malformed_documents_are_rejected(self, body):
        assert error_of(decode, body, JSON, 1).status == 400

    def test_wrong_feature_count(self):
        assert "got 3" in error_of(decode, b"[[1, 2, 3]]", JSON, 2).message


class TestRequestChecks:
    @pytest.mark.parametrize("content_type", ["", "application/x-npy", "text/plain"])
    def test_unsupported_content_type_is_415_and_lists_supported_types(self, content_type):
        error = error_of(decode, b"1,2", content_type, 2)
        assert error.status == 415 and "text/csv" in error.message and "application/json" in error.message

    @pytest.mark.parametrize(("body", "content_type"), [(b"  \n\r\n ", CSV), (b"\xef\xbb\xbf", CSV)])
    def test_a_body_without_rows_is_400(self, body, content_type):
        error = error_of(decode, body, content_type, 2)
        assert error.status == 400 and "empty" in error.message


class TestEncode:
    def test_csv_one_prediction_per_line(self):
        assert encode(np.array([1.5, 2.25], dtype=np.float32), CSV) == b"1.5\n2.25\n"

    def test_csv_multi_output_rows(self):
        assert encode(np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32), CSV) == b"0.25,0.75\n1.0,0.0\n"

    def test_json_predictions(self):
        assert json.loads(encode(np.array([1.5, 2.25], dtype=np.float32), JSON)) == {"predictions": [1.5, 2.25]}
        assert json.loads(encode(np.array([[0.5, 0.5]], dtype=np.float32), JSON)) == {"predictions": [[0.5, 0.5]]}

    def test_csv_non_finite_predictions_are_written_as_csv_readers_read_them(self):
        assert encode(np.array([np.nan, np.inf, 1.5], dtype=np.float32), CSV) == b"nan\ninf\n1.5\n"

    def test_float32_values_round_trip_exactly(self):
        values = np.array([9.821717262268066, 1e-8, -3.4e38], dtype=np.float32)
        decoded = np.array(encode(values, CSV).decode().split(), dtype=np.float32)
        assert np.array_equal(decoded, values)

    def test_json_output_is_strict_json_even_for_non_finite_predictions(self):
        """NaN and infinities are not JSON numbers: they are written as null."""

        def refuse(name):
            raise AssertionError(f"{name} is not JSON")

        encoded = encode(np.array([np.nan, np.inf, 1.5], dtype=np.float32), JSON)
        assert json.loads(encoded, parse_constant=refuse) == {"predictions": [None, None, 1.5]}
