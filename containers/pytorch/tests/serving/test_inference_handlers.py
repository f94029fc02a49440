"""`model_fn`/`input_fn`/`predict_fn`/`output_fn`: the artifact's own `code/` deploys on AWS's PyTorch containers."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types

import pytest
from serving_support import png

from pytorch_container import inference
from pytorch_container.errors import InvalidInput

HANDLER_RUN = r"""
import json, sys
code_dir, model_dir, image_path = sys.argv[1:4]
sys.path.insert(0, code_dir)  # what the inference toolkit does with <model_dir>/code
import inference, pytorch_container
assert pytorch_container.__file__.startswith(code_dir), pytorch_container.__file__
model = inference.model_fn(model_dir)
data = inference.input_fn(open(image_path, "rb").read(), "image/png")
prediction = inference.predict_fn(data, model)
sys.stdout.write(inference.output_fn(prediction, "application/json").decode())
"""


def test_the_artifacts_own_code_directory_serves_it(model_dir, test_digits, tmp_path) -> None:
    image = tmp_path / "digit.png"
    image.write_bytes(png(test_digits[0][1]))
    result = subprocess.run(
        [sys.executable, "-c", HANDLER_RUN, str(model_dir / "code"), str(model_dir), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer[0]["className"] == str(test_digits[1][1]) and len(answer) == 3


def test_the_handlers_take_the_arguments_the_toolkit_passes() -> None:
    # The toolkit passes its context as the last argument when a handler takes one more parameter.
    arity = {
        fn.__name__: len(inspect.signature(fn).parameters)
        for fn in (inference.model_fn, inference.input_fn, inference.predict_fn, inference.output_fn)
    }
    assert arity == {"model_fn": 2, "input_fn": 3, "predict_fn": 3, "output_fn": 3}


def test_handlers_end_to_end_in_process_with_a_text_json_body(model_dir, test_digits) -> None:
    model = inference.model_fn(str(model_dir))
    body = json.dumps((test_digits[0][2] / 255.0).tolist())  # the toolkit decodes JSON bodies to text
    request = inference.input_fn(body, "application/json; charset=utf-8")
    answer = json.loads(inference.output_fn(inference.predict_fn(request, model), "*/*"))
    assert answer[0]["className"] == str(test_digits[1][2])


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda: inference.input_fn(b"x", "text/csv"), 415, "unsupported content type 'text/csv'"),
        (lambda: inference.input_fn(b"", "image/png"), 400, "empty request body"),
        (lambda: inference.output_fn([], "text/csv"), 406, "cannot answer in 'text/csv'"),
    ],
)
def test_refusals_are_client_errors(call, status, message) -> None:
    with pytest.raises(InvalidInput, match=message) as error:
        call()
    assert error.value.status == status


def test_inside_aws_containers_a_refusal_becomes_the_toolkits_4xx_error(monkeypatch, model_dir) -> None:
    class GenericInferenceToolkitError(Exception):  # the toolkit's class: status_code, message, phrase
        def __init__(self, status_code, message=None, phrase=None):
            super().__init__(status_code, message, phrase)
            self.status_code, self.message, self.phrase = status_code, message, phrase or message

    package = types.ModuleType("sagemaker_inference")
    errors = types.ModuleType("sagemaker_inference.errors")
    errors.GenericInferenceToolkitError = GenericInferenceToolkitError
    monkeypatch.setitem(sys.modules, "sagemaker_inference", package)
    monkeypatch.setitem(sys.modules, "sagemaker_inference.errors", errors)
    model = inference.model_fn(str(model_dir))
    with pytest.raises(GenericInferenceToolkitError) as error:
        inference.predict_fn(inference.RawRequest(b"not a png", "image/png"), model)
    assert error.value.status_code == 400
    assert error.value.message.startswith("Invoke failed: the body is not a PNG image")
