"""Two corrections that make moto 5.2's Step Functions behave as AWS does for our definitions.

Each patch is scoped to a `with aws_fidelity():` block; tests/legacy_processing asserts the corrected
behaviour (error names in the history, RoleArn in the requests), so a moto upgrade that changes
either shows up there:

- Error names of `aws-sdk:sagemaker:*` tasks. Step Functions reports modeled errors as
  `SageMaker.<Name>Exception` (`SageMaker.ResourceInUseException`) and errors SageMaker does not
  model, such as ThrottlingException, as `SageMaker.AmazonSageMakerException`; moto reports
  `sagemaker.ResourceInUseException` and `sagemaker.sagemakerException`.
- `"RoleArn.$"` in Parameters. moto's ASL lexer reads it as the `Credentials` keyword, so the
  binding is kept as the literal key `RoleArn.$` with the path as its value, and the request goes
  out without a RoleArn. AWS evaluates it like any other `.$` key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadbinding.payload_binding import (
    PayloadBindingStringExpressionSimple,
)
from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadvaluelit.payload_value_str import (
    PayloadValueStr,
)
from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringContextPath, StringJsonPath
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

_AwsSdkTask = state_task_service_aws_sdk.StateTaskServiceAwsSdk
_original_service_name = _AwsSdkTask._normalise_service_error_name
_original_exception_name = _AwsSdkTask._normalise_exception_name
_original_binding = Preprocessor.visitPayload_binding_value


def _service_name(service: str) -> str:
    return "SageMaker" if service.lower() == "sagemaker" else str(_original_service_name(service))


def _exception_name(service: str, error: Exception) -> str:
    if service == "SageMaker" and type(error).__name__ == "ClientError":
        return "SageMaker.AmazonSageMakerException"
    return str(_original_exception_name(service, error))


def _binding(self: Preprocessor, ctx: Any) -> Any:
    binding = _original_binding(self, ctx)
    value = getattr(binding, "payload_value", None)
    if binding.field.endswith(".$") and isinstance(value, PayloadValueStr) and value.val.startswith("$"):
        path = StringContextPath(value.val) if value.val.startswith("$$") else StringJsonPath(value.val)
        return PayloadBindingStringExpressionSimple(field=binding.field[:-2], string_expression_simple=path)
    return binding


@contextmanager
def aws_fidelity() -> Iterator[None]:
    """Apply both corrections for the duration of the block."""
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(_AwsSdkTask, "_normalise_service_error_name", staticmethod(_service_name))
        )
        stack.enter_context(mock.patch.object(_AwsSdkTask, "_normalise_exception_name", staticmethod(_exception_name)))
        stack.enter_context(mock.patch.object(Preprocessor, "visitPayload_binding_value", _binding))
        yield
